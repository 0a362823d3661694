"""``wskit connect URL``: talk to a WebSocket server from a terminal or a
script, like wscat.

Each line read from stdin is sent as a text message. What is sent is
printed as ``> line``, what arrives as ``< message`` (binary messages as
hex). When stdin ends (Ctrl-D, or the end of a pipe) the client waits until
nothing has arrived for ``--wait`` seconds, closes with 1000 and exits.

Exit status (also in ``wskit connect --help``)::

    0        the connection closed with 1000 or 1001
    1        could not connect (refused, DNS, TLS, HTTP status, timeout)
    2        bad command line
    3        --rpc: the server answered with an error, or not at all
    4        closed with an application code (3000-4999)
    10+N     closed with 1000+N for N = 2..15: 1002 -> 12, 1005 (no code)
             -> 15, 1006 (no close frame) -> 16, 1011 -> 21
    130      interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import ssl
import sys
import threading
import time
from typing import Any, List, Optional, TextIO, Tuple, Union

from .. import (ConnectionClosed, InvalidHandshake, InvalidProxyStatus, InvalidStatus,
               RequestError, RequestTimeout, connect)

EXIT_OK = 0
EXIT_CONNECT = 1
EXIT_RPC = 3
EXIT_APP_CODE = 4
EXIT_INTERRUPTED = 130

EPILOG = """\
input: each line of stdin is sent as one text message (empty lines are
skipped). With --slash, lines starting with / are commands: /ping [TEXT],
/close [CODE [REASON]], /binary HEX (send bytes), /text LINE (send a line
that starts with /).

output: "> " marks what was sent and "< " what arrived; binary messages
show as "< [N bytes] 68 65 ..."; continuation lines of a multi-line message
are indented by two spaces. Connection notices go to stderr.

exit status: 0 closed with 1000 or 1001; 1 could not connect; 2 bad
usage; 3 --rpc got an error or no answer; 4 closed with an application
code (3000-4999); 10+N closed with 1000+N (1002 -> 12, 1005 no code -> 15,
1006 no close frame -> 16, 1011 -> 21); 130 interrupted.
"""


def exit_status(code: Optional[int]) -> int:
    """The exit status for the close code the peer sent (None: none came)."""
    if code is None:
        code = 1006
    if code in (1000, 1001):
        return EXIT_OK
    if 1002 <= code <= 1015:
        return 10 + code - 1000
    return EXIT_APP_CODE


def add_parser(sub: Any, parents: List[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "connect", parents=parents, help="an interactive client (like wscat)",
        description="Connect to a WebSocket server; send stdin's lines, print what arrives.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", metavar="URL", help="ws:// or wss:// URL")
    p.add_argument("-H", "--header", action="append", default=[], type=_header,
                   metavar="'NAME: VALUE'", help="add a request header (repeatable)")
    p.add_argument("-s", "--subprotocol", action="append", default=[], metavar="NAME",
                   help="offer a subprotocol (repeatable)")
    p.add_argument("-o", "--origin", help="send this Origin header")
    p.add_argument("--ca", metavar="FILE", help="trust the CA certificates in FILE (wss://)")
    p.add_argument("--insecure", action="store_true",
                   help="do not verify the server's certificate (wss://)")
    p.add_argument("--no-compression", action="store_true",
                   help="do not offer permessage-deflate")
    p.add_argument("--proxy", metavar="URL",
                   help="HTTP CONNECT proxy, http://[user:pass@]host:port (default: from "
                        "https_proxy / http_proxy / no_proxy; 'none' connects directly)")
    p.add_argument("--json", action="store_true", help="pretty-print JSON text messages")
    p.add_argument("--slash", action="store_true",
                   help="treat input lines starting with / as commands (see below)")
    p.add_argument("-w", "--wait", type=float, default=1.0, metavar="SECONDS",
                   help="after stdin ends, wait until nothing arrived for this long, then "
                        "close (default 1)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="opening handshake timeout, and how long --rpc waits (default 10)")
    p.add_argument("--max-size", type=int, default=16 << 20, metavar="BYTES",
                   help="largest message accepted (default 16 MiB)")
    p.add_argument("--rpc", nargs="+", metavar=("METHOD", "PARAMS"),
                   help="send one JSON-RPC 2.0 request (PARAMS: a JSON array or object), "
                        "print its result and exit")
    p.set_defaults(func=main)


def _header(text: str) -> Tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or name != name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name, value.strip()


def main(args: argparse.Namespace) -> int:
    if args.rpc is not None and len(args.rpc) > 2:
        print("wskit: --rpc takes METHOD and at most one PARAMS", file=sys.stderr)
        return 2
    from . import run
    return run(lambda: Client(args).run(), args.loop)


# ---- printing ----

def format_message(message: Union[str, bytes], pretty_json: bool = False) -> str:
    """A message as printed after its direction mark: text as is (JSON
    pretty-printed on request), binary as hex; continuation lines are
    indented so every message stays one block."""
    if isinstance(message, (bytes, bytearray)):
        text = f"[{len(message)} bytes] {bytes(message).hex(' ')}".rstrip()
    else:
        text = message
        if pretty_json:
            try:
                text = json.dumps(json.loads(message), indent=2, ensure_ascii=False)
            except ValueError:
                pass
    return text.replace("\n", "\n  ")


class _Output:
    """Prints messages with their direction mark, flushed at once so a
    pipe sees them as they happen."""

    def __init__(self, stream: TextIO, pretty_json: bool, retype: bool) -> None:
        self.stream = stream
        self.pretty_json = pretty_json
        # On a terminal the line just typed is still on screen: replace it
        # with its "> " form instead of showing it twice.
        self.retype = retype

    def sent(self, message: Union[str, bytes], typed: Optional[str] = None) -> None:
        prefix = ""
        if self.retype and typed is not None:
            # up over the rows the typed line took, then clear to the end
            rows = max(1, -(-len(typed) // max(1, shutil.get_terminal_size().columns)))
            prefix = f"\x1b[{rows}A\r\x1b[J"
        self._write(prefix + "> " + format_message(message, self.pretty_json))

    def received(self, message: Union[str, bytes]) -> None:
        self._write("< " + format_message(message, self.pretty_json))

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def notice(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---- stdin ----

class _Lines:
    """stdin's lines, read by a thread with os.read. asyncio's pipe
    transport refuses regular files (`< file`) and would leave a terminal
    non-blocking; a thread in os.read holds no lock that interpreter exit
    needs, so it may stay blocked when we are done."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.queue: "asyncio.Queue[Optional[bytes]]" = asyncio.Queue()
        self._loop = loop
        threading.Thread(target=self._read, name="wskit-stdin", daemon=True).start()

    def _put(self, item: Optional[bytes]) -> bool:
        try:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, item)
            return True
        except RuntimeError:  # the loop is closed: nobody is listening
            return False

    def _read(self) -> None:
        pending = b""
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            fd = -1
        while fd >= 0:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if not self._put(line):
                    return
        if pending:
            self._put(pending)
        self._put(None)

    async def get(self) -> Optional[str]:
        """The next line without its line ending, or None at the end."""
        raw = await self.queue.get()
        if raw is None:
            return None
        return raw.rstrip(b"\r").decode("utf-8", "replace")


# ---- the client ----

class Client:
    """One run of ``wskit connect``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ws: Any = None
        self.out = _Output(sys.stdout, args.json, sys.stdin.isatty() and sys.stdout.isatty())
        self.last_activity = time.monotonic()

    def _ssl(self) -> Optional[ssl.SSLContext]:
        args = self.args
        if not args.url.lower().startswith("wss:"):
            if args.ca or args.insecure:
                notice("wskit: --ca and --insecure only apply to wss:// URLs; ignored")
            return None
        ctx = ssl.create_default_context(cafile=args.ca)
        if args.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _proxy(self) -> Any:
        proxy = self.args.proxy
        if proxy is None:
            return True  # the environment's, as curl does
        return None if proxy.lower() == "none" else proxy

    async def _open(self) -> Optional[int]:
        """Connect; on failure print why and return the exit status."""
        args = self.args
        try:  # what is wrong before any I/O: the URL, the proxy's, the --ca file
            opener = connect(
                args.url, additional_headers=args.header,
                subprotocols=args.subprotocol or None, origin=args.origin,
                compression=None if args.no_compression else "deflate",
                open_timeout=args.timeout, max_size=args.max_size or None,
                max_queue=256, ssl=self._ssl(), proxy=self._proxy())
        except (ValueError, OSError) as exc:  # InvalidURI is a ValueError
            notice(f"wskit: {exc}")
            return 2
        try:
            self.ws = await opener
        except InvalidProxyStatus as exc:
            notice(f"wskit: cannot connect to {args.url}: {exc}")
            return EXIT_CONNECT
        except InvalidStatus as exc:
            resp = exc.response
            detail = resp.body.decode("utf-8", "replace").strip().splitlines()
            notice(f"wskit: {args.url}: the server refused the WebSocket connection: "
                   f"HTTP {resp.status}" + (f": {detail[0][:200]}" if detail else ""))
            return EXIT_CONNECT
        except ssl.SSLCertVerificationError as exc:
            notice(f"wskit: cannot connect to {args.url}: certificate verification failed: "
                   f"{exc.verify_message or exc} (see --ca, --insecure)")
            return EXIT_CONNECT
        except (asyncio.TimeoutError, TimeoutError):
            notice(f"wskit: cannot connect to {args.url}: timed out after {args.timeout:g} s")
            return EXIT_CONNECT
        except (OSError, InvalidHandshake, EOFError) as exc:
            notice(f"wskit: cannot connect to {args.url}: {exc or type(exc).__name__}")
            return EXIT_CONNECT
        ws = self.ws
        extra = []
        if ws.subprotocol:
            extra.append(f"subprotocol {ws.subprotocol}")
        if ws.compression:
            extra.append("permessage-deflate")
        notice(f"connected to {args.url}" + (f" ({', '.join(extra)})" if extra else ""))
        return None

    async def run(self) -> int:
        status = await self._open()
        if status is not None:
            return status
        try:
            if self.args.rpc is not None:
                return await self._rpc()
            return await self._interact()
        finally:
            if self.ws.state != 3:  # interrupted: still leave politely
                self.ws._close(1001, "")

    # ---- lines in, messages out ----

    async def _receive(self) -> None:
        try:
            async for message in self.ws:
                self.last_activity = time.monotonic()
                self.out.received(message)
        except ConnectionClosed:
            pass

    async def _send_lines(self, lines: _Lines) -> None:
        while True:
            line = await lines.get()
            if line is None:
                return
            if not line:
                continue
            if self.args.slash and line.startswith("/"):
                try:
                    await self._command(line)
                except (ValueError, TypeError) as exc:  # a bad code, a ping over 125 bytes
                    notice(f"{line.split()[0]}: {exc}")
            else:
                await self.ws.send(line)
                self.out.sent(line, typed=line)
            self.last_activity = time.monotonic()

    async def _command(self, line: str) -> None:
        name, _, rest = line[1:].partition(" ")
        ws = self.ws
        if name == "ping":
            latency = await ws.ping(rest or None)
            notice(f"ping sent{' (' + rest + ')' if rest else ''}")
            latency.add_done_callback(
                lambda f: f.cancelled() or f.exception() or
                notice(f"pong: {f.result() * 1000:.2f} ms"))
        elif name == "close":
            code_text, _, reason = rest.partition(" ")
            try:
                code = int(code_text) if code_text else 1000
            except ValueError:
                notice(f"/close: not a close code: {code_text!r}")
                return
            ws._close(code, reason)
        elif name == "binary":
            try:
                data = bytes.fromhex(rest)
            except ValueError:
                notice("/binary: expected hex digits, e.g. /binary 01 ff")
                return
            await ws.send(data)
            self.out.sent(data, typed=line)
        elif name == "text":
            await ws.send(rest)
            self.out.sent(rest, typed=line)
        else:
            notice(f"unknown command /{name}: /ping [TEXT], /close [CODE [REASON]], "
                   "/binary HEX, /text LINE")

    async def _interact(self) -> int:
        ws = self.ws
        receiving = asyncio.ensure_future(self._receive())
        sending = asyncio.ensure_future(self._send_lines(_Lines(asyncio.get_running_loop())))
        try:
            await asyncio.wait({receiving, sending}, return_when=asyncio.FIRST_COMPLETED)
            if sending.done():
                sending.result()  # a send that failed because the peer closed
                # stdin ended: wait for late replies until the line goes quiet
                while not receiving.done():
                    left = self.last_activity + self.args.wait - time.monotonic()
                    if left <= 0:
                        break
                    await asyncio.wait({receiving}, timeout=left)
                ws._close(1000, "")
        except ConnectionClosed:
            pass
        finally:
            sending.cancel()
        await receiving
        await ws.wait_closed()
        return self._report_close()

    def _report_close(self) -> int:
        ws = self.ws
        code = ws.close_code
        reason = f" {ws.close_reason}" if ws.close_reason else ""
        if code is None or code == 1006:
            notice("disconnected: no close frame (1006)" +
                   (f": {ws._error}" if ws._error else ""))
        else:
            notice(f"closed: {code}{reason}")
        return exit_status(code)

    # ---- one JSON-RPC request ----

    async def _rpc(self) -> int:
        method = self.args.rpc[0]
        params: Any = None
        if len(self.args.rpc) > 1:
            try:
                params = json.loads(self.args.rpc[1])
            except ValueError as exc:
                notice(f"wskit: --rpc PARAMS is not JSON: {exc}")
                return 2
            if not isinstance(params, (list, dict)):
                notice("wskit: --rpc PARAMS must be a JSON array or object")
                return 2
        ws = self.ws
        try:
            result = await ws.request(method, params, timeout=self.args.timeout)
        except RequestTimeout:
            notice(f"wskit: no answer to {method} within {self.args.timeout:g} s")
            return EXIT_RPC
        except RequestError as exc:
            data = f" ({json.dumps(exc.data)})" if exc.data is not None else ""
            notice(f"wskit: {method} failed: {exc.code} {exc.message}{data}")
            return EXIT_RPC
        except ConnectionClosed:
            self._report_close()
            notice(f"wskit: the connection closed before {method} was answered")
            return EXIT_RPC
        finally:
            await ws.close()
        print(json.dumps(result, indent=2, ensure_ascii=False), flush=True)
        return EXIT_OK
