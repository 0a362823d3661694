"""The awaitable connection: ``await ws.recv()``, ``async for msg in ws``,
``await ws.send(msg)``, ``await ws.ping()``, ``await ws.close()``.

Messages arrive from C as whole str or bytes objects and wait in a deque
until recv() takes them. A recv() cancelled while waiting loses nothing:
a message leaves the queue only in the same step that returns it.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import (Any, AsyncIterable, AsyncIterator, Callable, Dict, Iterable, Optional,
                    Tuple, Union)

from ._buffer import recv_buffer
from ._config import queue_marks
from .exceptions import ConnectionClosedOK
from .protocol import BaseProtocol

__all__ = ["Connection", "Data"]

Data = Union[str, bytes]
_BYTES_LIKE = (bytes, bytearray, memoryview)


class Connection(BaseProtocol):
    """A WebSocket connection with an awaitable API (client or server side).

    Do not create it yourself: ``wskit.connect()`` returns one, and
    ``wskit.serve()`` passes one to its handler.
    """

    __slots__ = ("_queue", "_high", "_low", "_recv_waiter", "_pings", "_drain_waiter",
                 "_fragmenting", "_latency", "_intercept")

    def __init__(self, config: Any, loop: asyncio.AbstractEventLoop, *,
                 max_queue: Union[int, Tuple[int, int], None] = 16,
                 server: Any = None, waiter: "Optional[asyncio.Future[Any]]" = None) -> None:
        self._init_base(config, loop, server, waiter, recv_buffer())
        # made on the first message: an idle connection then carries no deque
        self._queue: "Optional[collections.deque[Data]]" = None
        self._high, self._low = queue_marks(max_queue)
        self._recv_waiter: "Optional[asyncio.Future[None]]" = None
        self._pings: "Optional[Dict[int, Tuple[asyncio.Future[float], float]]]" = None
        self._drain_waiter: "Optional[asyncio.Future[None]]" = None
        self._fragmenting: "Optional[asyncio.Future[None]]" = None
        self._latency = 0.0
        # Later layers (JSON-RPC replies) may claim text messages before
        # they are queued: a callable(str) -> bool, True when consumed.
        self._intercept: Optional[Callable[[str], bool]] = None

    def _on_open(self, headers: Any) -> None:
        if headers is not None:  # client: the 101's headers
            self._response = headers
        self._open_done()

    # ---- receiving ----

    def _on_message(self, message: Data) -> None:
        f = self._intercept
        if f is not None and message.__class__ is str and f(message):  # type: ignore[arg-type]
            return
        q = self._queue
        if q is None:
            q = self._queue = collections.deque()
        elif self._high is not None and len(q) >= self._high and self._state == 2:
            # We sent a close while the queue was full: reading goes on so
            # the peer's close frame can arrive, but what comes before it
            # is dropped, or a peer could fill our memory until close_timeout.
            return
        q.append(message)
        w = self._recv_waiter
        if w is not None:
            self._recv_waiter = None
            if not w.done():
                w.set_result(None)
        high = self._high
        if high is not None and len(q) >= high:
            self._pause_reading()

    async def recv(self) -> Data:
        """The next message: str for text, bytes for binary.

        Raises ConnectionClosedOK / ConnectionClosedError once the queue is
        empty and the connection is closed. Cancelling recv() loses no
        message. Only one recv() may wait at a time (RuntimeError).
        """
        q = self._queue
        while not q:
            if self._state == 3:
                raise self._closed_exc()
            if self._recv_waiter is not None:
                raise RuntimeError("another coroutine is already waiting in recv()")
            w = self._recv_waiter = self._loop.create_future()
            try:
                await w
            finally:
                if self._recv_waiter is w:
                    self._recv_waiter = None
            q = self._queue
        message = q.popleft()  # type: ignore[union-attr]
        if len(q) <= self._low and self._reading_paused:  # type: ignore[arg-type]
            self._resume_reading()
        return message

    def __aiter__(self) -> AsyncIterator[Data]:
        """Iterate over messages until the connection closes normally
        (ConnectionClosedError propagates)."""
        return self

    async def __anext__(self) -> Data:
        try:
            return await self.recv()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    # ---- sending ----

    async def send(self, message: Union[Data, bytearray, memoryview, Iterable[Data],
                                        AsyncIterable[Data]]) -> None:
        """Send a message: str as text, bytes-like as binary.

        An iterable or async iterable of str (or of bytes-like) is sent as
        one fragmented message, one frame per item. Waits while the write
        buffer is over write_limit. Raises ConnectionClosed when closed.
        """
        cls = message.__class__
        if (cls is str or cls is bytes) and self._fragmenting is None:  # the common case
            if self._send(message):
                await self.drain()
            return
        while self._fragmenting is not None:  # a fragmented message is on its way
            await asyncio.shield(self._fragmenting)
        if isinstance(message, (str, bytes, bytearray, memoryview)):
            if self._send(message):
                await self.drain()
            return
        if isinstance(message, dict):
            raise TypeError("send() takes str, bytes-like or an iterable of them, not a dict")
        if hasattr(message, "__aiter__"):
            await self._send_fragments(message.__aiter__(), True)  # type: ignore[union-attr]
        elif hasattr(message, "__iter__"):
            await self._send_fragments(iter(message), False)  # type: ignore[arg-type]
        else:
            raise TypeError(f"send() cannot send {type(message).__name__}")

    async def _send_fragments(self, it: Any, is_async: bool) -> None:
        done = self._fragmenting = self._loop.create_future()
        started = False
        try:
            kind = prev = None
            while True:
                try:
                    chunk = (await it.__anext__()) if is_async else next(it)
                except (StopIteration, StopAsyncIteration):
                    break
                ckind = str if isinstance(chunk, str) else bytes
                if ckind is bytes and not isinstance(chunk, _BYTES_LIKE):
                    raise TypeError(f"cannot send a fragment of type {type(chunk).__name__}")
                if kind is None:
                    kind = ckind
                elif ckind is not kind:
                    raise TypeError("all fragments of a message must be str, or all bytes-like")
                if prev is not None:
                    started = True
                    if self._send_fragment(prev, False):
                        await self.drain()
                prev = chunk
            if prev is not None:
                started = True
                if self._send_fragment(prev, True):
                    await self.drain()
                started = False
        except BaseException:
            if started:  # the message cannot be finished: fail the connection
                self._close(1011, "fragmented message not completed")
            raise
        finally:
            self._fragmenting = None
            done.set_result(None)

    async def drain(self) -> None:
        """Wait until the write buffer is below write_limit (or closed)."""
        while self._writing_paused and not self._lost and self._state != 3:
            w = self._drain_waiter
            if w is None:
                w = self._drain_waiter = self._loop.create_future()
            await asyncio.shield(w)

    def _on_writable(self) -> None:
        w = self._drain_waiter
        if w is not None:
            self._drain_waiter = None
            if not w.done():
                w.set_result(None)

    # ---- control frames ----

    async def ping(self, data: Optional[Union[str, bytes]] = None) -> "asyncio.Future[float]":
        """Send a ping; return a future that yields the latency in seconds
        when its pong arrives (``latency = await (await ws.ping())``).

        ``data`` (at most 125 bytes) defaults to a unique payload. A pong
        also answers every earlier ping.
        """
        ping_id = self._ping(data)
        fut: "asyncio.Future[float]" = self._loop.create_future()
        if self._pings is None:
            self._pings = {}
        # time.monotonic, not loop.time: uvloop's clock moves in whole ms
        self._pings[ping_id] = (fut, time.monotonic())
        return fut

    async def pong(self, data: Union[str, bytes] = b"") -> None:
        """Send an unsolicited pong (pings are answered automatically)."""
        self._pong(data)

    def _on_pong(self, data: bytes, ping_id: int, latency_ms: int) -> None:
        if not ping_id:
            return  # unsolicited
        latency = latency_ms / 1000.0
        pings = self._pings
        if pings:
            now = time.monotonic()
            for pid in [p for p in pings if p <= ping_id]:
                fut, sent = pings.pop(pid)
                if pid == ping_id:
                    latency = now - sent
                if not fut.done():
                    fut.set_result(now - sent)
        self._latency = latency

    @property
    def latency(self) -> float:
        """Seconds between the last answered ping and its pong (0 before any)."""
        return self._latency

    # ---- closing ----

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake and wait until the connection is closed.

        Does nothing more if the connection is already closing. Messages
        already queued can still be received; if the queue is full
        (max_queue), messages the peer sends before its close frame are
        dropped so the handshake completes promptly.
        """
        self._close(code, reason)
        await self.wait_closed()

    def _on_closed(self) -> None:
        w = self._recv_waiter
        if w is not None:
            self._recv_waiter = None
            if not w.done():
                w.set_result(None)
        pings = self._pings
        if pings:
            self._pings = None
            exc = self._closed_exc()
            for fut, _ in pings.values():
                if not fut.done():
                    fut.set_exception(exc)
                    fut.cancel()  # done already: only stops "never retrieved" logs
        self._on_writable()
        self._ended()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state.name} {self.remote_address}>"

