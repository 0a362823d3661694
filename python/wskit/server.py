"""The server: ``wskit.serve()`` and ``wskit.unix_serve()``.

::

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with wskit.serve(echo, "127.0.0.1", 8765) as server:
        await server.serve_forever()

``serve(SomeHandlerClass, ...)`` (or ``protocol_class=``) runs the
callback style instead: no task per connection, no future per message.
"""

from __future__ import annotations

import asyncio
import inspect
import ssl as ssl_module
from typing import (Any, Awaitable, Callable, Generator, List, Optional, Sequence, Set, Tuple,
                    Union)

from . import _core
from ._buffer import recv_buffer
from ._config import Limits, queue_marks, server_config
from ._guard import Guard
from .client import USER_AGENT
from .connection import Connection, Data
from .exceptions import ConnectionClosed
from .handler import Handler
from .http import Request, Response
from .hub import ChannelHub, channel_class
from .protocol import BaseProtocol, logger
from .rpc import Methods, as_methods

__all__ = ["serve", "unix_serve", "Server", "ServerConnection"]


class ServerConnection(Connection):
    """The server side of an awaitable connection; its handler runs in a task."""

    __slots__ = ("_task",)

    def _on_open(self, headers: Any) -> None:
        server = self._server
        assert server is not None
        if server._guard.on_open(self):  # else closed, or waiting for first-message auth
            self._app_open()

    def _app_open(self) -> None:
        server = self._server
        assert server is not None
        self._task = self._loop.create_task(server._run_handler(self))

    def respond(self, status: int, text: str) -> Response:
        """A plain-text Response for process_request to return."""
        return Response(status, [("Content-Type", "text/plain; charset=utf-8")],
                        text.encode())


ProcessRequest = Callable[[Any, Request], Union[Optional[Response], Awaitable[Optional[Response]]]]
SelectSubprotocol = Callable[[Any, Sequence[str]], Optional[str]]


class Server:
    """A running WebSocket server (what ``await serve(...)`` returns).

    ``connections`` holds the connections not yet closed. Connections join
    named channels with ``ws.subscribe(name)``; ``publish(name, message)``
    sends to a channel's members (one registry per server, the core's).
    """

    def __init__(self, handler: Optional[Callable[[Any], Awaitable[Any]]],
                 protocol_class: Optional[Callable[[], Handler]], config: Any, *,
                 process_request: Optional[ProcessRequest],
                 select_subprotocol: Optional[SelectSubprotocol],
                 server_header: Optional[str], max_queue: Union[int, Tuple[int, int], None],
                 close_timeout: Optional[float], methods: Optional[Methods] = None,
                 guard: Optional[Guard] = None,
                 channel_options: Optional[dict] = None) -> None:
        self._handler = handler
        self._protocol_class = protocol_class
        self._config = config
        self._process_request = process_request
        self._select_subprotocol = select_subprotocol
        self._headers: List[Tuple[str, str]] = [("Server", server_header)] if server_header else []
        self._max_queue = max_queue
        self._close_timeout = close_timeout
        self._loop = asyncio.get_running_loop()
        self._aserver: Optional[asyncio.AbstractServer] = None
        self._closing = False
        self._closed = self._loop.create_future()
        self._tasks: Set["asyncio.Task[Any]"] = set()
        self._methods = methods
        self._channels = _core.Channels()
        self.connections: Set[BaseProtocol] = set()
        self._guard = guard if guard is not None else Guard()  # limits and auth hooks
        self._init_channels(**(channel_options or {}))

    def _init_channels(self, channels_path: Optional[str] = None, sse_path: Optional[str] = None,
                       sse_heartbeat: Optional[float] = 15.0, sse_retry: Optional[float] = 2.0,
                       **hub_options: Any) -> None:
        # the hub: JSON channel protocol, SSE, history, backplane (wskit.hub)
        self._channels_path = channels_path
        self._hub = ChannelHub(self, **hub_options)
        if sse_path is not None:
            from .sse import SseStreams
            SseStreams(self._hub, sse_path, heartbeat=sse_heartbeat, retry=sse_retry)

    # ---- connections ----

    def _factory(self) -> BaseProtocol:
        if self._protocol_class is not None:
            proto = self._protocol_class()
            proto._init_base(self._config, self._loop, self, None, recv_buffer())
        else:
            proto = ServerConnection(self._config, self._loop, max_queue=self._max_queue,
                                     server=self)
        if self._methods is not None:
            proto._rpc_setup(self._methods)
        return proto  # counted in connections once connection_made runs

    # ---- channels ----

    def publish(self, channel: str, message: Any) -> List[BaseProtocol]:
        """Publish ``message`` (str: text, bytes-like: binary, anything else:
        JSON) to ``channel``: to the connections that ``subscribe()``d to it
        (the bare payload, framed once), to channels_path and SSE subscribers
        (numbered, kept in the history), on every instance sharing the
        backplane. Returns the raw subscribers skipped because they could
        not take it now (over their write limit: a slow reader, or
        closing). With a backplane the message is delivered once Redis
        numbered it (returns []); raises BackplaneUnavailable while Redis
        is down."""
        return self._hub.publish(channel, message)

    async def apublish(self, channel: str, message: Any) -> int:
        """publish(), then wait until the message is numbered: returns its
        seq (raises BackplaneUnavailable if Redis failed)."""
        return await self._hub.apublish(channel, message)

    def subscribers(self, channel: str) -> List[BaseProtocol]:
        """The connections subscribed to ``channel`` (a snapshot)."""
        return self._channels.members(channel)  # type: ignore[no-any-return]

    def _forget(self, conn: BaseProtocol) -> None:
        self.connections.discard(conn)
        self._hub.forget(conn)
        self._guard.lost(conn)

    # ---- counts ----

    def connections_per_ip(self, addr: str) -> int:
        """Open connections from the address ``addr`` (textual IP)."""
        return self._guard.ip_limit.count(addr)  # type: ignore[no-any-return]

    @property
    def stats(self) -> dict:
        """Counts: connections (open), addresses (distinct IPs connected),
        ip_rejected (429), ip_closed (1013), auth_rejected (refused by
        authenticate), auth_failed (first-message auth failed or timed out),
        rate_limited (messages over message_rate, every policy)."""
        return self._guard.stats(self)

    def _spawn(self, coro: Awaitable[Any]) -> "asyncio.Task[Any]":
        task = self._loop.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run_handler(self, conn: ServerConnection) -> None:
        assert self._handler is not None
        try:
            await self._handler(conn)
        except ConnectionClosed:
            pass
        except Exception:
            logger.error("connection handler failed", exc_info=True)
            conn._close(1011, "internal error")
        else:
            conn._close(1000, "")
        await conn.wait_closed()

    # ---- handshake ----

    def _handshake(self, conn: BaseProtocol, status: int) -> None:
        """Answer a request (called from the connection's _on_request)."""
        if self._closing:
            conn._reject(503, [("Content-Type", "text/plain")], b"Server is shutting down.\n")
            return
        if self._guard.refuse(conn):  # too many connections from its address: 429
            return
        if self._process_request is not None:
            try:
                answer = self._process_request(conn, conn.handshake_request)  # type: ignore[arg-type]
            except Exception:
                logger.error("process_request failed", exc_info=True)
                conn._reject(500, [], b"Internal Server Error\n")
                return
            if inspect.isawaitable(answer):
                self._spawn(self._handshake_async(conn, answer, status))
                return
            if answer is not None:
                self._respond(conn, answer)
                return
        self._accept(conn, status)

    async def _handshake_async(self, conn: BaseProtocol, answer: Awaitable[Optional[Response]],
                               status: int) -> None:
        try:
            response = await answer
        except Exception:
            logger.error("process_request failed", exc_info=True)
            conn._reject(500, [], b"Internal Server Error\n")
            return
        if response is not None:
            self._respond(conn, response)
        else:
            self._accept(conn, status)

    def _respond(self, conn: BaseProtocol, response: Response) -> None:
        if not isinstance(response, Response):
            logger.error("process_request returned %r, not a Response or None", response)
            conn._reject(500, [], b"Internal Server Error\n")
            return
        try:
            conn._reject(response.status, response.headers.raw_items(), response.body)
        except ValueError:
            logger.error("invalid Response from process_request: %r", response, exc_info=True)
            conn._reject(500, [], b"Internal Server Error\n")

    def _accept(self, conn: BaseProtocol, status: int) -> None:
        sse = self._hub.sse
        if sse is not None and sse.wants(conn):  # Server-Sent Events on this port
            if status != 426:  # 426: a valid GET that is not an upgrade; else the core's answer
                conn._reject(0)
                return
            if not self._guard.check_request(self, conn, lambda: self._accept(conn, status)):
                sse.start(conn)
            return
        if status:  # not a valid upgrade: the core's answer (400, 403, 426)
            conn._reject(0)
            return
        if self._guard.check_request(self, conn, lambda: self._accept(conn, 0)):
            return  # authenticate answered (401...) or is deciding
        if self._channels_path is not None and self._hub.is_channels_request(
                conn, self._channels_path):
            conn.__class__ = channel_class(type(conn))  # the hub answers its messages
        elif self._handler is None and self._protocol_class is None:
            conn._reject(404, [("Content-Type", "text/plain")], b"Not Found\n")
            return
        subprotocol = None
        select = self._select_subprotocol
        try:
            if select is not None:
                request = conn.handshake_request
                assert request is not None
                offered = [p.strip() for v in request.headers.get_all("Sec-WebSocket-Protocol")
                           for p in v.split(",") if p.strip()]
                chosen = select(conn, offered)
                subprotocol = "" if chosen is None else chosen
            conn._accept(subprotocol, self._headers)
        except Exception:
            logger.error("could not accept the connection", exc_info=True)
            conn._reject(500, [], b"Internal Server Error\n")

    # ---- lifecycle ----

    def _attach(self, aserver: asyncio.AbstractServer) -> None:
        self._aserver = aserver

    @property
    def sockets(self) -> Tuple[Any, ...]:
        """The listening sockets."""
        return tuple(self._aserver.sockets) if self._aserver is not None else ()  # type: ignore

    def close(self, code: int = 1001, reason: str = "") -> None:
        """Stop accepting, and close every connection with ``code``."""
        if self._closing:
            return
        self._closing = True
        if self._aserver is not None:
            self._aserver.close()
        self._hub.close()
        for conn in list(self.connections):
            try:
                conn._close(code, reason)
            except Exception:
                logger.error("could not close %r", conn, exc_info=True)
        if not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until the server is closed and its connections are gone."""
        await asyncio.shield(self._closed)
        if self._aserver is not None:
            await self._aserver.wait_closed()
        conns = list(self.connections)
        if conns:
            await asyncio.gather(*(c.wait_closed() for c in conns), return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._hub.wait_closed()

    async def serve_forever(self) -> None:
        """Serve until close() is called; cancelling it closes the server."""
        try:
            await asyncio.shield(self._closed)
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()
        await self.wait_closed()


class serve:
    """Start a WebSocket server; ``await`` it or use ``async with``.

    ``handler(ws)`` is awaited for each connection (the connection closes
    with 1000 when it returns, 1011 if it raises); or pass a Handler
    subclass (as handler or ``protocol_class``) for the callback style.
    Listen on ``host``/``port``, an existing ``sock``, or a Unix socket
    ``path``. ``origins``: allowed Origin values (others get 403).
    ``process_request(ws, request)`` (sync or async) returns None to go on
    or a Response to answer plain HTTP instead (health checks, refusals).
    ``select_subprotocol(ws, offered)`` picks one of ``offered`` or None;
    by default the first offered that is in ``subprotocols``.

    ``methods``: a wskit.Methods (or dict) clients may call with JSON-RPC
    requests (``ws.request()`` works either way). ``ssl``: an SSLContext
    for wss://. Limits: ``max_size``, ``max_frame_size`` (None: max_size),
    ``max_fragments``, ``max_line_size``, ``max_head_size``, ``max_headers``
    (the request head; over them: 431), ``max_queue``, ``write_limit``;
    ``streaming=True`` hands big messages over in pieces. Other keyword
    arguments go to loop.create_server().

    Guards (docs/auth.md): ``hosts``: allowed Host values (others get 403).
    ``authenticate(ws, request)`` (sync or async) returns user data (stored
    as ``ws.user``), None/False for 401, or a Response.
    ``first_message_auth(ws, message)`` (sync or async) judges the first
    message within ``auth_timeout`` seconds (default 10, as in the Lua and
    OpenResty bindings; None/False or the deadline:
    close 1008; nothing else is processed before). ``message_rate`` per
    second (0: off) with ``message_burst`` and ``rate_policy`` "error" |
    "drop" | "close"; ``max_connections_per_ip`` (0: off) with
    ``ip_limit_policy`` "reject" (429) | "close" (1013).

    Channels (docs/python.md, docs/protocol.md): ``channels_path`` serves
    the JSON channel protocol there (``client_publish``, ``authorize(ws,
    action, channel)``, ``max_subscriptions``); ``history_size`` messages
    and ``history_ttl`` seconds of history per channel for resume;
    ``backplane="redis://HOST:PORT/DB"`` (keys under ``backplane_prefix``)
    shares channels between instances; ``sse_path`` serves Server-Sent
    Events (``sse_heartbeat``, ``sse_retry`` seconds). ``handler`` may be
    None when only channels or SSE are served.
    """

    def __init__(
        self,
        handler: Any,
        host: Optional[Union[str, Sequence[str]]] = None,
        port: Optional[int] = None,
        *,
        sock: Any = None,
        path: Optional[str] = None,
        ssl: Optional[ssl_module.SSLContext] = None,
        subprotocols: Optional[Sequence[str]] = None,
        select_subprotocol: Optional[SelectSubprotocol] = None,
        origins: Optional[Sequence[str]] = None,
        process_request: Optional[ProcessRequest] = None,
        compression: Optional[str] = "deflate",
        open_timeout: Optional[float] = 10,
        ping_interval: Optional[float] = 20,
        ping_timeout: Optional[float] = 20,
        close_timeout: Optional[float] = 10,
        max_size: Optional[int] = 2**20,
        max_frame_size: Optional[int] = None,
        max_fragments: int = 16384,
        max_line_size: int = 8192,
        max_head_size: int = 16384,
        max_headers: int = 128,
        streaming: bool = False,
        max_queue: Union[int, Tuple[int, int], None] = 16,
        write_limit: Union[int, Tuple[int, int]] = 32768,
        server_header: Optional[str] = USER_AGENT,
        methods: Union[Methods, dict, None] = None,
        protocol_class: Optional[Callable[[], Handler]] = None,
        hosts: Optional[Sequence[str]] = None,
        authenticate: Optional[Callable[[Any, Request], Any]] = None,
        first_message_auth: Optional[Callable[[Any, Data], Any]] = None,
        auth_timeout: float = 10.0,
        message_rate: float = 0,
        message_burst: Optional[float] = None,
        rate_policy: str = "error",
        max_connections_per_ip: int = 0,
        ip_limit_policy: str = "reject",
        channels_path: Optional[str] = None,
        client_publish: bool = True,
        authorize: Optional[Callable[[Any, str, str], Any]] = None,
        history_size: int = 100,
        history_ttl: float = 300.0,
        max_subscriptions: int = 100,
        backplane: Optional[str] = None,
        backplane_prefix: str = "wskit:",
        sse_path: Optional[str] = None,
        sse_heartbeat: Optional[float] = 15.0,
        sse_retry: Optional[float] = 2.0,
        **kwargs: Any,
    ) -> None:
        if protocol_class is None and isinstance(handler, type) and issubclass(handler, Handler):
            handler, protocol_class = None, handler
        if handler is None and protocol_class is None and channels_path is None and \
                sse_path is None:
            raise TypeError("serve() needs a handler coroutine function or a Handler class")
        if history_size < 0 or history_ttl < 0 or max_subscriptions < 0:
            raise ValueError("history_size, history_ttl and max_subscriptions must be >= 0")
        self._channel_options = dict(
            channels_path=channels_path, sse_path=sse_path, sse_heartbeat=sse_heartbeat,
            sse_retry=sse_retry, client_publish=client_publish, authorize=authorize,
            history_size=history_size, history_ttl=history_ttl,
            max_subscriptions=max_subscriptions, backplane=backplane,
            backplane_prefix=backplane_prefix)
        queue_marks(max_queue)  # validate now
        self._handler = handler
        self._protocol_class = protocol_class
        self._host, self._port, self._sock, self._path, self._ssl = host, port, sock, path, ssl
        self._options = dict(process_request=process_request,
                             select_subprotocol=select_subprotocol, server_header=server_header,
                             max_queue=max_queue, close_timeout=close_timeout,
                             methods=as_methods(methods))
        # each started Server gets its own Guard (its own counts); made once now to check
        self._guard_options = dict(authenticate=authenticate,
                                   first_message_auth=first_message_auth,
                                   max_connections_per_ip=max_connections_per_ip,
                                   ip_limit_policy=ip_limit_policy)
        Guard(**self._guard_options)
        limits = Limits(max_size, max_frame_size, max_fragments, max_line_size, max_head_size,
                        max_headers, streaming)
        self._config = server_config(
            subprotocols=subprotocols, origins=origins, compression=compression,
            open_timeout=open_timeout, ping_interval=ping_interval, ping_timeout=ping_timeout,
            close_timeout=close_timeout, limits=limits, write_limit=write_limit,
            hosts=hosts, auth_timeout=auth_timeout if first_message_auth is not None else None,
            message_rate=message_rate, message_burst=message_burst, rate_policy=rate_policy)
        self._kwargs = kwargs
        self._server: Optional[Server] = None

    async def _start(self) -> Server:
        loop = asyncio.get_running_loop()
        server = Server(self._handler, self._protocol_class, self._config,
                        guard=Guard(**self._guard_options),
                        channel_options=self._channel_options,
                        **self._options)  # type: ignore[arg-type]
        await server._hub.start()  # the backplane: connected before we listen
        kw = dict(self._kwargs)
        if self._ssl is not None:
            kw["ssl"] = self._ssl
        if self._path is not None or (self._sock is not None and
                                      getattr(self._sock, "family", None) == _AF_UNIX):
            aserver = await loop.create_unix_server(server._factory, self._path, sock=self._sock,
                                                    **kw)
        else:
            aserver = await loop.create_server(server._factory, self._host, self._port,
                                               sock=self._sock, **kw)
        server._attach(aserver)
        return server

    def __await__(self) -> Generator[Any, None, Server]:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        self._server = await self._start()
        return self._server

    async def __aexit__(self, *exc_info: Any) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()


def unix_serve(handler: Any, path: Optional[str] = None, **kwargs: Any) -> serve:
    """serve() on a Unix socket at ``path``."""
    return serve(handler, path=path, **kwargs)


try:
    from socket import AF_UNIX as _AF_UNIX
except ImportError:  # pragma: no cover - Windows
    _AF_UNIX = None  # type: ignore[assignment]
