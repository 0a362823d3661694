"""The client: ``wskit.connect()`` and ``wskit.unix_connect()``.

::

    async with wskit.connect("ws://localhost:8765") as ws:
        await ws.send("hello")
        print(await ws.recv())

    ws = await wskit.connect(uri)          # same, closed by you

    async for ws in wskit.connect(uri):    # reconnects with backoff
        try:
            async for message in ws:
                ...
        except wskit.ConnectionClosed:
            continue
"""

from __future__ import annotations

import asyncio
import os
import ssl as ssl_module
import sys
from typing import (Any, AsyncIterator, Callable, Generator, Optional, Sequence, Tuple,
                    Union)

from . import _core
from .auth import redact_uri  # URIs in logs lose tokens and passwords
from ._buffer import recv_buffer
from ._config import Limits, client_config, queue_marks
from .channels_client import ChannelSession, ChannelsMixin
from .connection import Connection, Data
from .exceptions import ConnectionClosed, InvalidHandshake, InvalidURI, RequestTimeout
from .handler import Handler
from .http import HeadersLike
from .protocol import BaseProtocol, logger
from .proxy import open_tunnel
from .reconnect import Backoff, process_exception as default_process_exception
from .rpc import Methods, as_methods

__all__ = ["connect", "unix_connect", "ClientConnection", "USER_AGENT"]

USER_AGENT = f"wskit/{_core.__version__} Python/{sys.version_info[0]}.{sys.version_info[1]}"


class ClientConnection(ChannelsMixin, Connection):
    """The client side of an awaitable connection (see Connection), with
    the channel protocol's subscribe / unsubscribe / publish
    (wskit.channels_client): channel messages come from recv() as
    wskit.ChannelMessage, lost ones as a raised wskit.ChannelGap."""

    __slots__ = ("_chan", "_chan_pending")

    def __init__(self, config: Any, loop: asyncio.AbstractEventLoop, *,
                 chan: Optional[ChannelSession] = None, **kwargs: Any) -> None:
        super().__init__(config, loop, **kwargs)
        self._chan = chan
        self._chan_pending = None

    def _on_message(self, message: Data) -> None:
        s = self._chan
        # frames of the channel protocol are looked at only once the
        # application used it (a plain connection's JSON stays its own)
        if s is not None and s.tracker is not None and message.__class__ is str:
            item = self._chan_frame(message)  # type: ignore[arg-type]
            if item is None:
                return
            message = item
        Connection._on_message(self, message)

    def _queue_item(self, item: Any) -> None:
        Connection._on_message(self, item)

    async def recv(self) -> Any:
        """The next message (see Connection.recv); a wskit.ChannelMessage
        for a subscribed channel. Raises wskit.ChannelGap where channel
        messages were lost (the connection goes on)."""
        message = await Connection.recv(self)
        if isinstance(message, Exception):
            raise message
        return message

    def _on_closed(self) -> None:
        if self._chan_pending:
            self._chan_fail_pending(self._closed_exc())
        Connection._on_closed(self)


def _now_ms(loop: asyncio.AbstractEventLoop) -> int:
    return int(loop.time() * 1000)


class connect:
    """Open a WebSocket connection to ``uri`` (ws:// or wss://).

    Use it as ``await connect(...)``, ``async with connect(...) as ws``,
    or ``async for ws in connect(...)`` to reconnect after failures and
    disconnects, waiting as ``backoff`` says; ``process_exception(exc)``
    returns None to retry a failed attempt or the exception to raise
    (default: the core's classification, wskit.reconnect.process_exception).

    ``protocol_class``: a Handler subclass (or factory) for the callback
    style; the connection is then that Handler. Timeouts are in seconds
    (None disables). ``max_size`` bounds incoming messages (None: no
    limit), ``max_queue`` the messages waiting for recv() before reading
    pauses (an int, or (high, low)), ``write_limit`` the write buffer
    before send() waits. ``max_frame_size`` (None: max_size),
    ``max_fragments``, ``max_line_size``, ``max_head_size`` and
    ``max_headers`` bound frames and the server's handshake answer;
    ``streaming=True`` hands big messages over in pieces
    (``recv_streaming()``).

    ``ssl``: for wss:// the default verifies the server against the
    system's CAs (ssl.create_default_context()); pass an SSLContext to
    choose, and ``server_hostname`` to check another name than the URI's.
    ``proxy``: True (default) uses https_proxy / http_proxy / no_proxy from
    the environment as curl does, a URL ("http://[user:pw@]host:port")
    uses that proxy, None connects directly. ``methods``: a wskit.Methods
    (or dict) the server may call with JSON-RPC requests.

    ``path`` connects to a Unix socket instead of the URI's host. Other
    keyword arguments go to loop.create_connection().
    """

    def __init__(
        self,
        uri: str,
        *,
        subprotocols: Optional[Sequence[str]] = None,
        additional_headers: Optional[HeadersLike] = None,
        origin: Optional[str] = None,
        user_agent: Optional[str] = USER_AGENT,
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
        ssl: Union[None, bool, ssl_module.SSLContext] = None,
        server_hostname: Optional[str] = None,
        proxy: Union[bool, str, None] = True,
        methods: Union[Methods, dict, None] = None,
        path: Optional[str] = None,
        protocol_class: Optional[Callable[[], Handler]] = None,
        backoff: Optional[Backoff] = None,
        process_exception: Callable[[Exception], Optional[Exception]] = default_process_exception,
        **kwargs: Any,
    ) -> None:
        try:
            url = _core.url_parse(uri)
        except (ValueError, TypeError) as exc:
            raise InvalidURI(str(uri), str(exc)) from None
        if isinstance(proxy, str):
            _core.proxy_resolve(uri, proxy, None, None, None)  # a bad proxy URL fails here
        elif proxy is not None and proxy is not True and proxy is not False:
            raise TypeError("proxy must be True, None or a proxy URL")
        if url["secure"]:
            if ssl is None or ssl is True:
                ssl = ssl_module.create_default_context()
        elif ssl:
            raise ValueError("connect() got an ssl argument for a ws:// URI")
        else:
            ssl = None
        self.uri = uri
        self._url = url
        self._ssl = ssl
        self._server_hostname = server_hostname or (url["host"] if ssl else None)
        self._path = path
        self._open_timeout = open_timeout
        self._max_queue = max_queue
        queue_marks(max_queue)  # validate now, not at the first connection
        self._protocol_class = protocol_class
        self._backoff = backoff or Backoff()
        self._process_exception = process_exception
        self._proxy = proxy
        self._methods = as_methods(methods)
        self._kwargs = kwargs
        limits = Limits(max_size, max_frame_size, max_fragments, max_line_size, max_head_size,
                        max_headers, streaming)
        self._config = client_config(
            url, subprotocols=subprotocols, additional_headers=additional_headers,
            origin=origin, user_agent=user_agent, compression=compression,
            ping_interval=ping_interval, ping_timeout=ping_timeout, close_timeout=close_timeout,
            limits=limits, write_limit=write_limit)
        self._conn: Optional[BaseProtocol] = None
        # channel positions: shared by every connection this object makes
        self._channels = ChannelSession()

    # ---- one connection ----

    def _make(self, loop: asyncio.AbstractEventLoop, waiter: "asyncio.Future[Any]") -> BaseProtocol:
        if self._protocol_class is not None:
            proto = self._protocol_class()
            if not isinstance(proto, Handler):
                raise TypeError("protocol_class must make wskit.Handler instances")
            proto._init_base(self._config, loop, None, waiter, recv_buffer())
        else:
            proto = ClientConnection(self._config, loop, max_queue=self._max_queue, waiter=waiter,
                                     chan=self._channels)
        if self._methods is not None:
            proto._rpc_setup(self._methods)
        return proto

    def _proxy_for(self) -> Optional[Tuple[str, int, str]]:
        """The proxy this attempt goes through, or None (the environment is
        read at each attempt, so a reconnecting client follows it)."""
        proxy = self._proxy
        if not proxy or self._path is not None or self._kwargs.get("sock") is not None:
            return None
        if proxy is True:
            env = os.environ.get
            return _core.proxy_resolve(  # type: ignore[no-any-return]
                self.uri, None, env("https_proxy") or env("HTTPS_PROXY"), env("http_proxy"),
                env("no_proxy") or env("NO_PROXY"))
        return _core.proxy_resolve(self.uri, proxy, None, None, None)  # type: ignore

    async def _open(self, loop: asyncio.AbstractEventLoop, proto: BaseProtocol,
                    waiter: "asyncio.Future[Any]") -> None:
        kw = dict(self._kwargs)
        if self._ssl is not None:
            kw["ssl"] = self._ssl
            kw["server_hostname"] = self._server_hostname
        proxy = self._proxy_for()
        if proxy is not None:
            sock, early = await open_tunnel(loop, proxy, self._url["host"], self._url["port"])
            try:
                if early:
                    if self._ssl is not None:  # TLS has the client speak first
                        raise InvalidHandshake("the proxy sent data before the TLS handshake")
                    proto._preload(early)  # the server's first bytes: fed before any read
                await loop.create_connection(lambda: proto, sock=sock, **kw)
            except BaseException:
                sock.close()
                raise
        elif self._path is not None:
            await loop.create_unix_connection(lambda: proto, self._path, **kw)
        elif kw.get("sock") is not None:
            await loop.create_connection(lambda: proto, **kw)
        else:
            await loop.create_connection(lambda: proto, self._url["host"], self._url["port"], **kw)
        await waiter

    async def _connect(self) -> Any:
        loop = asyncio.get_running_loop()
        waiter: "asyncio.Future[Any]" = loop.create_future()
        proto = self._make(loop, waiter)
        try:
            if self._open_timeout:
                await asyncio.wait_for(self._open(loop, proto, waiter), self._open_timeout)
            else:
                await self._open(loop, proto, waiter)
        except BaseException:
            proto._waiter = None
            if not waiter.done():
                waiter.cancel()
            if proto.transport is not None:
                proto._abort()
            raise
        return proto

    def __await__(self) -> Generator[Any, None, Any]:
        return self._connect().__await__()

    async def __aenter__(self) -> Any:
        self._conn = await self._connect()
        return self._conn

    async def __aexit__(self, *exc_info: Any) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn._close(1000, "")
            await conn.wait_closed()

    # ---- reconnecting ----

    async def __aiter__(self) -> AsyncIterator[Any]:
        loop = asyncio.get_running_loop()
        policy = self._backoff.policy()
        while True:
            try:
                conn = await self._connect()
            except Exception as exc:
                err = self._process_exception(exc)
                if err is not None:
                    if err is exc:
                        raise
                    raise err from exc
                delay = policy.next()
                if delay < 0:
                    raise
                logger.info("connecting to %s failed (%s); retrying in %.3f s",
                            redact_uri(self.uri),
                            str(exc) or type(exc).__name__, delay / 1000)
                await asyncio.sleep(delay / 1000)
                continue
            policy.opened(_now_ms(loop))
            try:
                if isinstance(conn, ClientConnection):
                    await self._resume(conn)  # what was missed is queued before the user reads
                yield conn
            finally:
                conn._close(1000, "")
                await conn.wait_closed()
            policy.closed(_now_ms(loop))
            delay = policy.next()
            if delay < 0:
                return
            logger.info("reconnecting to %s in %.3f s", redact_uri(self.uri), delay / 1000)
            await asyncio.sleep(delay / 1000)

    async def _resume(self, conn: ClientConnection) -> None:
        """Resubscribe the tracked channels before handing ``conn`` out,
        so what was missed is queued first. A connection lost meanwhile
        is handed out anyway (its recv() says so); one that does not
        answer in time is closed the same way."""
        try:
            await conn._chan_resume(self._open_timeout)
        except ConnectionClosed:
            pass
        except RequestTimeout as exc:
            logger.info("resubscribing on %s: %s; reconnecting", redact_uri(self.uri), exc)
            conn._close(1011, "resubscribe timed out")


def unix_connect(path: Optional[str] = None, uri: Optional[str] = None, **kwargs: Any) -> connect:
    """connect() over a Unix socket at ``path``; ``uri`` (default
    ws://localhost/) gives the Host header and the resource."""
    if uri is None:
        uri = "wss://localhost/" if kwargs.get("ssl") else "ws://localhost/"
    return connect(uri, path=path, **kwargs)
