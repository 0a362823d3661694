"""The ``wskit`` command. Only ``--help`` and ``--version`` for now; the
connect / serve / bench commands are added here later."""

from __future__ import annotations

import argparse
from typing import List, Optional

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; later commands add subparsers to it."""
    parser = argparse.ArgumentParser(
        prog="wskit", description="wskit: WebSocket client, server and benchmarks.")
    parser.add_argument("--version", action="version", version=f"wskit {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0
