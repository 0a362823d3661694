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
import ssl as ssl_module
import sys
from typing import (Any, AsyncIterator, Callable, Generator, Optional, Sequence, Tuple,
                    Union)

from . import _core
from ._buffer import recv_buffer
from ._config import client_config, queue_marks
from .connection import Connection
from .exceptions import InvalidURI
from .handler import Handler
from .http import HeadersLike
from .protocol import BaseProtocol, logger
from .reconnect import Backoff, process_exception as default_process_exception

__all__ = ["connect", "unix_connect", "ClientConnection", "USER_AGENT"]

USER_AGENT = f"wskit/{_core.__version__} Python/{sys.version_info[0]}.{sys.version_info[1]}"


class ClientConnection(Connection):
    """The client side of an awaitable connection (see Connection)."""

    __slots__ = ()


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
    before send() waits. ``path`` connects to a Unix socket instead of the
    URI's host. Other keyword arguments go to loop.create_connection().
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
        max_queue: Union[int, Tuple[int, int], None] = 16,
        write_limit: Union[int, Tuple[int, int]] = 32768,
        ssl: Union[None, bool, ssl_module.SSLContext] = None,
        server_hostname: Optional[str] = None,
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
        self._kwargs = kwargs
        self._config = client_config(
            url, subprotocols=subprotocols, additional_headers=additional_headers,
            origin=origin, user_agent=user_agent, compression=compression,
            ping_interval=ping_interval, ping_timeout=ping_timeout, close_timeout=close_timeout,
            max_size=max_size, write_limit=write_limit)
        self._conn: Optional[BaseProtocol] = None

    # ---- one connection ----

    def _make(self, loop: asyncio.AbstractEventLoop, waiter: "asyncio.Future[Any]") -> BaseProtocol:
        if self._protocol_class is not None:
            proto = self._protocol_class()
            if not isinstance(proto, Handler):
                raise TypeError("protocol_class must make wskit.Handler instances")
            proto._init_base(self._config, loop, None, waiter, recv_buffer())
            return proto
        return ClientConnection(self._config, loop, max_queue=self._max_queue, waiter=waiter)

    async def _open(self, loop: asyncio.AbstractEventLoop, proto: BaseProtocol,
                    waiter: "asyncio.Future[Any]") -> None:
        kw = dict(self._kwargs)
        if self._ssl is not None:
            kw["ssl"] = self._ssl
            kw["server_hostname"] = self._server_hostname
        if self._path is not None:
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
                logger.info("connecting to %s failed (%s); retrying in %.3f s", self.uri,
                            str(exc) or type(exc).__name__, delay / 1000)
                await asyncio.sleep(delay / 1000)
                continue
            policy.opened(_now_ms(loop))
            try:
                yield conn
            finally:
                conn._close(1000, "")
                await conn.wait_closed()
            policy.closed(_now_ms(loop))
            delay = policy.next()
            if delay < 0:
                return
            logger.info("reconnecting to %s in %.3f s", self.uri, delay / 1000)
            await asyncio.sleep(delay / 1000)


def unix_connect(path: Optional[str] = None, uri: Optional[str] = None, **kwargs: Any) -> connect:
    """connect() over a Unix socket at ``path``; ``uri`` (default
    ws://localhost/) gives the Host header and the resource."""
    if uri is None:
        uri = "wss://localhost/" if kwargs.get("ssl") else "ws://localhost/"
    return connect(uri, path=path, **kwargs)
