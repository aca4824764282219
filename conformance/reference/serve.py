"""`keepcall-conformance serve`: run the reference server until Ctrl-C.

The one place secrets are printed on purpose: the operator starts their own server and needs
the key and login to point a client at it.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

from conformance.reference.faults import FAULTS, check_names
from conformance.reference.server import ReferenceServer
from conformance.reference.switches import Switches, switch_help

_ENV = {"api_key": "KEEPCALL_API_KEY", "username": "KEEPCALL_USERNAME",
        "password": "KEEPCALL_PASSWORD"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The serve options (secrets default to the KEEPCALL_* environment, else random)."""
    group = parser.add_argument_group("reference server")
    group.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    group.add_argument("--port", type=int, default=8080, help="port (default %(default)s; 0: any)")
    group.add_argument("--api-key", help="API key requiring a token (env KEEPCALL_API_KEY)")
    group.add_argument("--open-api-key", help="API key without authentication")
    group.add_argument("--username", help="RequestToken login (env KEEPCALL_USERNAME)")
    group.add_argument("--password", help="RequestToken password (env KEEPCALL_PASSWORD)")
    group.add_argument("--switch", action="append", default=[], metavar="NAME=VALUE",
                       help="choose a reading of an open point (repeatable)")
    group.add_argument("--fault", action="append", default=[], metavar="NAME",
                       help="inject a single-fault deviation (repeatable)")
    group.add_argument("--list", action="store_true", help="list switches and faults, then exit")


def _listing() -> str:
    switches = [f"  {name}: {line}" for name, line in switch_help().items()]
    faults = [f"  {f.name} ({f.requirement}): {f.description}" for f in FAULTS]
    return "\n".join(["switches:", *switches, "faults:", *faults])


def _server(args: argparse.Namespace) -> ReferenceServer:
    secrets = {name: getattr(args, name) or os.environ.get(env) for name, env in _ENV.items()}
    return ReferenceServer(Switches.parse(args.switch), check_names(args.fault), args.host,
                           args.port, open_api_key=args.open_api_key, **secrets)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; 0 on Ctrl-C, 2 on bad options, 1 when the port is taken."""
    if args.list:
        print(_listing())
        return 0
    try:
        server = _server(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        server.start()
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(_banner(server), flush=True)
    try:
        while True:
            threading.Event().wait(0.5)
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        server.stop()
    return 0


def _banner(server: ReferenceServer) -> str:
    rows = [("API URL", server.api_url), ("control URL", server.control_url),
            ("API key", f"{server.api_key} (requires a token)"),
            ("open API key", f"{server.open_api_key} (no token)"),
            ("RequestToken login", f"{server.username}:{server.password}")]
    chosen = server.switches.non_default()
    rows += [("switches", str(chosen))] if chosen else []
    rows += [("faults", ", ".join(sorted(server.faults)))] if server.faults else []
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows) + "\nCtrl-C to stop."
