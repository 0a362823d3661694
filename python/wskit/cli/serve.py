"""``wskit serve``: an echo, broadcast or chat server on one port, which
also answers plain HTTP GET / with a chat page a browser can use.

--echo       every message comes back to its sender (the default)
--broadcast  every message goes to every connected client, sender included
--chat       a chat room: the name comes from ?name=..., text messages are
             chat lines; the server sends JSON events (welcome, join, leave,
             message) that the page at / shows

Connections are logged to stderr; SIGINT/SIGTERM close every connection
with 1001 and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import errno
import json
import logging
import signal
import ssl
import sys
import time
import urllib.parse
from typing import Any, Deque, Dict, Iterable, List, Optional, Set, Union

from .. import ConnectionClosed, Handler, Response, __version__, broadcast, serve

log = logging.getLogger("wskit.serve")

CHAT_HISTORY = 50      # messages a newcomer gets
CHAT_NAME_MAX = 24     # characters of a name
CHAT_MAX_SIZE = 64 * 1024  # bytes of a message (larger ones close with 1009)


def add_parser(sub: Any, parents: List[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve", parents=parents, help="an echo, broadcast or chat server with a chat page",
        description="Serve WebSocket echo, broadcast or chat, and a chat page at /.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--echo", dest="mode", action="store_const", const="echo",
                      help="send every message back to its sender (default)")
    mode.add_argument("--broadcast", dest="mode", action="store_const", const="broadcast",
                      help="send every message to every client")
    mode.add_argument("--chat", dest="mode", action="store_const", const="chat",
                      help="a chat room with names and join/leave notices")
    p.set_defaults(mode="echo", func=main)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free)")
    p.add_argument("--cert", metavar="FILE", help="serve wss:// with this certificate (PEM)")
    p.add_argument("--key", metavar="FILE", help="its private key (default: in --cert)")
    p.add_argument("-s", "--subprotocol", action="append", default=[], metavar="NAME",
                   help="a subprotocol to accept when offered (repeatable)")
    p.add_argument("--origin", action="append", metavar="ORIGIN",
                   help="accept only this Origin (repeatable; default: any)")
    p.add_argument("--no-compression", action="store_true", help="refuse permessage-deflate")
    p.add_argument("--max-size", type=int, default=None, metavar="BYTES",
                   help="largest message accepted (default 1 MiB; chat 64 KiB)")
    p.add_argument("-q", "--quiet", action="store_true", help="log only warnings")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")


def main(args: argparse.Namespace) -> int:
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(message)s", datefmt="%H:%M:%S",
                        level=level)
    # The library's INFO lines (browsers' unused preconnects "lost during the
    # opening handshake", say) are noise here; its warnings are not.
    logging.getLogger("wskit").setLevel(min(level, logging.DEBUG) if args.verbose
                                        else max(level, logging.WARNING))
    log.setLevel(level)
    from . import run
    return run(lambda: Service(args).run(), args.loop)


# ---- helpers ----

def peer(conn: Any) -> str:
    addr = conn.remote_address
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = f"[{addr[0]}]" if ":" in str(addr[0]) else addr[0]
        return f"{host}:{addr[1]}"
    return str(addr or "?")


def fan_out(connections: Iterable[Any], message: Union[str, bytes]) -> None:
    """Send ``message`` to every open connection without waiting (the
    frame is built once, by the core). A client over its write limit (a
    slow reader) misses the message rather than making the server buffer
    without bound."""
    skipped = broadcast(connections, message)
    if skipped:
        log.debug("%d slow or closing client(s) missed a message", len(skipped))


def handshake_path(conn: Any) -> str:
    """The target (path and query) of the request that opened ``conn``."""
    req = conn.handshake_request
    return req.path if req is not None else ""


def load_page() -> bytes:
    """The chat page, packaged as wskit/static/chat.html."""
    try:
        from importlib.resources import files
        return (files("wskit") / "static" / "chat.html").read_bytes()
    except (ImportError, AttributeError, TypeError):  # Python 3.8's resources
        import os
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        with open(os.path.join(here, "static", "chat.html"), "rb") as f:
            return f.read()


# ---- echo and broadcast: the callback style, no task per connection ----

class EchoHandler(Handler):
    """Echo: the message goes straight back (the C send, no wrapper)."""

    def on_open(self) -> None:
        log.info("%s connected %s", peer(self), handshake_path(self))

    on_message = Handler.send  # type: ignore[assignment]

    def on_close(self, code: int, reason: str) -> None:
        log.info("%s closed %d%s", peer(self), code, f" {reason}" if reason else "")


class BroadcastHandler(EchoHandler):
    """Broadcast: the message goes to every open connection."""

    clients: Set[Handler] = set()

    def on_open(self) -> None:
        self.clients.add(self)
        super().on_open()

    def on_message(self, message: Union[str, bytes]) -> None:  # type: ignore[override]
        fan_out(self.clients, message)

    def on_close(self, code: int, reason: str) -> None:
        self.clients.discard(self)
        super().on_close(code, reason)


# ---- chat: the awaitable style ----

class ChatRoom:
    """Names, history and fan-out of the --chat server."""

    def __init__(self) -> None:
        self.members: Dict[Any, str] = {}
        self.history: Deque[dict] = collections.deque(maxlen=CHAT_HISTORY)
        self.guests = 0

    def users(self) -> List[str]:
        return sorted(self.members.values(), key=str.lower)

    def unique_name(self, wanted: str) -> str:
        name = " ".join(wanted.split())[:CHAT_NAME_MAX]
        if not name:
            self.guests += 1
            name = f"guest-{self.guests}"
        taken = set(self.members.values())
        base, n = name, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        return name

    def send_all(self, event: dict) -> None:
        fan_out(self.members, json.dumps(event, ensure_ascii=False))

    async def handler(self, ws: Any) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(handshake_path(ws)).query)
        name = self.unique_name(query.get("name", [""])[0])
        await ws.send(json.dumps({"type": "welcome", "name": name,
                                  "users": sorted(self.users() + [name], key=str.lower),
                                  "history": list(self.history)}, ensure_ascii=False))
        self.members[ws] = name
        log.info("%s joined as %r", peer(ws), name)
        self.send_all({"type": "join", "name": name, "users": self.users()})
        try:
            async for message in ws:
                if not isinstance(message, str) or not message.strip():
                    continue  # the chat is text; the connection stays
                event = {"type": "message", "name": name, "text": message,
                         "time": int(time.time() * 1000)}
                self.history.append(event)
                self.send_all(event)
        except ConnectionClosed:
            pass
        finally:
            del self.members[ws]
            log.info("%s (%s) left: %s", peer(ws), name, ws.close_code or 1006)
            self.send_all({"type": "leave", "name": name, "users": self.users()})


# ---- the server ----

class Service:
    """One run of ``wskit serve``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.page = load_page()

    def process_request(self, conn: Any, request: Any) -> Optional[Response]:
        """Plain HTTP (no Upgrade: websocket) gets the page, or 404."""
        if "websocket" in request.headers.get("Upgrade", "").lower():
            return None
        path = urllib.parse.urlsplit(request.path).path
        if path in ("/", "/index.html"):
            status, headers, body = 200, [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; "
                 "style-src 'unsafe-inline'; connect-src 'self' ws: wss:"),
            ], self.page
        elif path == "/favicon.ico":
            status, headers, body = 204, [], b""
        else:
            status, headers, body = 404, [("Content-Type", "text/plain")], b"Not Found\n"
        log.info("%s GET %s %d", peer(conn), request.path, status)
        return Response(status, headers, body)

    def _ssl(self) -> Optional[ssl.SSLContext]:
        if not self.args.cert:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.args.cert, self.args.key)
        return ctx

    async def run(self) -> int:
        args = self.args
        handler: Any
        if args.mode == "chat":
            handler = ChatRoom().handler
        elif args.mode == "broadcast":
            BroadcastHandler.clients = set()
            handler = BroadcastHandler
        else:
            handler = EchoHandler
        max_size = args.max_size
        if max_size is None:
            max_size = CHAT_MAX_SIZE if args.mode == "chat" else 1 << 20
        try:
            server = await serve(
                handler, args.host, args.port, ssl=self._ssl(),
                subprotocols=args.subprotocol or None, origins=args.origin,
                compression=None if args.no_compression else "deflate",
                max_size=max_size or None, process_request=self.process_request)
        except (OSError, ssl.SSLError) as exc:
            print(f"wskit: cannot listen on {args.host}:{args.port}: {exc}"
                  + (" (choose another with --port)" if isinstance(exc, OSError)
                     and exc.errno == errno.EADDRINUSE else ""), file=sys.stderr)
            return 1
        stop = asyncio.get_running_loop().create_future()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                asyncio.get_running_loop().add_signal_handler(
                    sig, lambda: stop.done() or stop.set_result(None))
            except (NotImplementedError, AttributeError):  # Windows: KeyboardInterrupt
                pass
        self._announce(server)
        try:
            await stop
        finally:
            log.info("shutting down")
            server.close(1001)
            await server.wait_closed()
        return 0

    def _announce(self, server: Any) -> None:
        sock = server.sockets[0].getsockname()
        host, port = sock[0], sock[1]
        scheme = "wss" if self.args.cert else "ws"
        shown = f"[{host}]" if ":" in host else host
        browse = "localhost" if host in ("0.0.0.0", "::") else shown
        # stdout, one line each, flushed: scripts and tests read the URL here
        print(f"wskit {__version__} {self.args.mode} server on {scheme}://{shown}:{port}/",
              flush=True)
        print(f"open http{'s' if self.args.cert else ''}://{browse}:{port}/ in a browser; "
              "Ctrl-C stops", flush=True)
        if self.args.mode == "chat":
            print(f"or chat from a terminal: wskit connect '{scheme}://{browse}:{port}/?name=NAME'",
                  flush=True)
