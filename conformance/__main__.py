"""``python -m conformance`` is ``keepcall-conformance``."""

from conformance.integration.cli import main

raise SystemExit(main())
