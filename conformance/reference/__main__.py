"""`python -m conformance.reference`: the reference server without the project's CLI."""

from __future__ import annotations

import argparse
import sys

from conformance.reference.serve import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.reference",
                                     description="Run the KeepCall reference server.")
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
