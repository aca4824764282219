"""The conformance tests, shipped in the package so an installed copy can run them.

Run them with ``keepcall-conformance run`` or ``pytest --pyargs conformance.suite --kc-target URL``.
Every test carries a ``requirement`` marker; the plugin refuses to collect one that does not.
"""
