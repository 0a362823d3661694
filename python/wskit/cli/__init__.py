"""The ``wskit`` command (also ``python -m wskit``).

    wskit connect URL     an interactive client, like wscat
    wskit serve           an echo, broadcast or chat server with a chat page at /
    wskit bench URL       drive an echo server with N connections, print latency

Each command lives in its own module here; this one builds the parser and
runs the chosen command on an event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any, Awaitable, Callable, List, Optional

from .. import __version__

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one subcommand per module."""
    from . import bench, connect, serve  # the commands import wskit's heavier parts

    parser = argparse.ArgumentParser(
        prog="wskit", description="wskit: WebSocket client, server and benchmarks.")
    parser.add_argument("--version", action="version", version=f"wskit {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--loop", choices=("auto", "asyncio", "uvloop"), default="auto",
        help="event loop (default: uvloop when installed, else asyncio's)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (connect, serve, bench):
        module.add_parser(sub, [common])
    return parser


def run(main: Callable[[], Awaitable[int]], loop: str = "auto") -> int:
    """Run ``main()`` on a fresh event loop of the chosen kind; its result
    is the exit status."""
    factory: Optional[Callable[[], asyncio.AbstractEventLoop]] = None
    if loop != "asyncio":
        try:
            import uvloop
            factory = uvloop.new_event_loop
        except ImportError:
            if loop == "uvloop":
                print("wskit: uvloop is not installed", file=sys.stderr)
                return 2
    ev = factory() if factory is not None else asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(ev)
        return ev.run_until_complete(main())
    finally:
        try:
            tasks = [t for t in asyncio.all_tasks(ev) if not t.done()]
            for t in tasks:
                t.cancel()
            if tasks:
                ev.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            ev.run_until_complete(ev.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            ev.close()


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    # messages and output must not die on a terminal that cannot show them
    for stream in (sys.stdout, sys.stderr):
        reconfigure: Any = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `wskit connect ... | head`: not an error
        # and keep the interpreter's final flush from reporting it again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
