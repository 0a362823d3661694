"""``wskit serve``: an echo, broadcast or chat server on one port, which
also answers plain HTTP GET / with a chat page a browser can use.

--echo       every message comes back to its sender (the default)
--broadcast  every message goes to every connected client, sender included
--chat       a chat on the JSON channel protocol: the page at / talks to
             /channels (rooms are channels, with resume after a reconnect),
             /events streams a room as Server-Sent Events, and a bot joins
             the rooms and answers "/bot ..." messages. A terminal joins a
             room at /?name=NAME&room=ROOM (lines in, JSON lines out).
             --redis URL shares the rooms with other instances (scale-out).

Connections are logged to stderr; SIGINT/SIGTERM close every connection
with 1001 and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import inspect
import json
import logging
import signal
import ssl
import sys
import time
import urllib.parse
from typing import Any, Iterable, List, Optional, Set, Union

from .. import ConnectionClosed, Handler, Response, __version__, broadcast, serve
from ..auth import redact_target  # tokens in query strings stay out of the logs

log = logging.getLogger("wskit.serve")

CHAT_ROOMS = ("lobby", "random", "help")  # the channels of --chat
CHAT_HISTORY = 100     # messages per room kept for resume (history_size)
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
                      help="a chat on channels (/channels, /events) with rooms, resume and a bot")
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
    p.add_argument("--redis", metavar="URL", default=None,
                   help="share channels with other instances through Redis "
                   "(backplane, e.g. redis://127.0.0.1:6379/0)")
    p.add_argument("--no-bot", dest="bot", action="store_false",
                   help="--chat without its bot (e.g. on a second instance)")
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
        log.info("%s connected %s", peer(self), redact_target(handshake_path(self)))

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

class ChatBridge:
    """--chat for terminals (``wskit connect ws://HOST:PORT/?name=N&room=R``):
    each line typed is published to the room as {user, text, time}; the
    room's messages come back as raw JSON lines (a raw subscriber of the
    channel). Browsers use /channels directly."""

    def __init__(self) -> None:
        self.server: Any = None
        self.guests = 0

    def name_of(self, wanted: str) -> str:
        name = " ".join(wanted.split())[:CHAT_NAME_MAX]
        if not name:
            self.guests += 1
            name = f"guest-{self.guests}"
        return name

    async def publish(self, room: str, data: Any) -> None:
        r = self.server.publish(room, data)
        if inspect.isawaitable(r):  # with a backplane the publish goes through Redis
            await r

    async def handler(self, ws: Any) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(handshake_path(ws)).query)
        name = self.name_of(query.get("name", [""])[0])
        room = query.get("room", [CHAT_ROOMS[0]])[0]
        if room not in CHAT_ROOMS:
            await ws.close(1008, "no such room")
            return
        ws.subscribe(room)
        log.info("%s joined %s as %r (terminal)", peer(ws), room, name)
        await ws.send(json.dumps({"type": "welcome", "name": name, "room": room,
                                  "rooms": list(CHAT_ROOMS)}, ensure_ascii=False))
        try:
            async for message in ws:
                if not isinstance(message, str) or not message.strip():
                    continue  # the chat is text; the connection stays
                await self.publish(room, {"user": name, "text": message,
                                          "time": int(time.time() * 1000)})
        except ConnectionClosed:
            pass
        finally:
            log.info("%s (%s) left: %s", peer(ws), name, ws.close_code or 1006)


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
        if self.args.mode == "chat" and path == "/events":
            return None  # the server's own SSE endpoint
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
        log.info("%s GET %s %d", peer(conn), redact_target(request.path), status)
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
        extra: dict = {}
        bridge = None
        if args.redis:
            extra["backplane"] = args.redis
        if args.mode == "chat":
            bridge = ChatBridge()
            handler = bridge.handler
            extra.update(channels_path="/channels", sse_path="/events",
                         history_size=CHAT_HISTORY)
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
                max_size=max_size or None, process_request=self.process_request, **extra)
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
        if bridge is not None:
            bridge.server = server
        bot = None
        if args.mode == "chat" and args.bot:
            # the bot is in the rooms before the banner says the server is up
            from .chatbot import run_bot
            ready = asyncio.Event()
            bot = asyncio.ensure_future(run_bot(self._own_url(server) + "channels", CHAT_ROOMS,
                                                self._client_ssl(), ready))
            try:
                await asyncio.wait_for(ready.wait(), 10)
            except asyncio.TimeoutError:
                log.warning("the bot has not joined yet; going on without waiting")
        self._announce(server)
        try:
            await stop
        finally:
            log.info("shutting down")
            if bot is not None:
                bot.cancel()
                try:
                    await bot
                except (asyncio.CancelledError, Exception):  # noqa: B014 - its end is ours
                    pass
            server.close(1001)
            await server.wait_closed()
        return 0

    def _own_url(self, server: Any) -> str:
        """ws:// URL of this server for an in-process client (the bot)."""
        host, port = server.sockets[0].getsockname()[:2]
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        shown = f"[{host}]" if ":" in host else host
        return f"{'wss' if self.args.cert else 'ws'}://{shown}:{port}/"

    def _client_ssl(self) -> Optional[ssl.SSLContext]:
        if not self.args.cert:
            return None
        ctx = ssl.create_default_context()  # our own certificate, on our own address
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

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
            print(f"rooms {', '.join(CHAT_ROOMS)}: channels at {scheme}://{browse}:{port}/channels, "
                  f"SSE at http{'s' if self.args.cert else ''}://{browse}:{port}/events?channel=lobby"
                  + (f", shared through {self.args.redis}" if self.args.redis else ""), flush=True)
            print(f"or chat from a terminal: wskit connect "
                  f"'{scheme}://{browse}:{port}/?name=NAME&room=lobby'", flush=True)
            if self.args.bot:
                print("the bot answers messages starting with /bot (try: /bot help)", flush=True)
