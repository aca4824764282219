"""``python -m conformance`` is ``keepcall-conformance``."""

from conformance.cli import main

raise SystemExit(main())
