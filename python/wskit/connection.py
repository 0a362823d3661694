"""The awaitable connection: ``await ws.recv()``, ``async for msg in ws``,
``await ws.send(msg)``, ``await ws.ping()``, ``await ws.close()``.

Messages arrive from C as whole str or bytes objects and wait in a deque
until recv() takes them. A recv() cancelled while waiting loses nothing:
a message leaves the queue only in the same step that returns it.

With ``streaming=True`` a message that does not arrive whole (a big one)
comes in pieces: it waits in the queue as a _Stream that fills as pieces
arrive; recv() joins it, recv_streaming() hands out the pieces. Pieces
count against max_queue like messages do, so a slow reader pauses the
socket rather than buffer a big message whole.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import (Any, AsyncIterable, AsyncIterator, Dict, Iterable, Optional,
                    Tuple, Union)

from ._buffer import recv_buffer
from ._config import queue_marks
from .exceptions import ConnectionClosedOK
from .protocol import BaseProtocol
from .rpc import HOLD_QUEUE, HOLD_WRITE, Params

__all__ = ["Connection", "Data"]

Data = Union[str, bytes]
_BYTES_LIKE = (bytes, bytearray, memoryview)


class _Stream:
    """A message arriving in pieces (streaming=True), queued like a message."""

    __slots__ = ("parts", "text", "done", "aborted", "waiter", "reading")

    def __init__(self, text: bool) -> None:
        self.parts: "collections.deque[Data]" = collections.deque()
        self.text = text
        self.done = False      # the last piece arrived (or the connection ended)
        self.aborted = False   # ... without the last piece
        self.waiter: "Optional[asyncio.Future[None]]" = None
        self.reading = False   # a recv()/recv_streaming() is taking its pieces

    def wake(self) -> None:
        w = self.waiter
        if w is not None:
            self.waiter = None
            if not w.done():
                w.set_result(None)


class Connection(BaseProtocol):
    """A WebSocket connection with an awaitable API (client or server side).

    Do not create it yourself: ``wskit.connect()`` returns one, and
    ``wskit.serve()`` passes one to its handler.
    """

    __slots__ = ("_queue", "_high", "_low", "_recv_waiter", "_pings", "_drain_waiter",
                 "_fragmenting", "_latency", "_stream", "_pieces")

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
        self._stream: Optional[_Stream] = None  # the message whose pieces are arriving
        self._pieces = 0  # pieces waiting in queued streams (count against max_queue)

    def _on_open(self, headers: Any) -> None:
        if headers is not None:  # client: the 101's headers
            self._response = headers
        self._open_done()

    # ---- receiving ----

    def _on_message(self, message: Data) -> None:
        # (JSON-RPC text was offered to _on_rpc first, in C: see wskit.rpc)
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
            self._hold(HOLD_QUEUE)

    def _on_fragment(self, data: Data, first: bool, fin: bool) -> None:
        # streaming=True: a piece of a message that did not arrive whole
        q = self._queue
        if q is None:
            q = self._queue = collections.deque()
        high = self._high
        full = high is not None and len(q) + self._pieces >= high and self._state == 2
        if first:
            if full:  # closing with a full queue: drop, as _on_message does
                self._stream = None
                return
            s = self._stream = _Stream(data.__class__ is str)
            q.append(s)
            w = self._recv_waiter
            if w is not None:
                self._recv_waiter = None
                if not w.done():
                    w.set_result(None)
        else:
            s = self._stream  # type: ignore[assignment]
            if s is None:
                return
            if full:
                s.aborted = s.done = True
                self._stream = None
                s.wake()
                return
        if data or first:
            s.parts.append(data)
            self._pieces += 1
        if fin:
            s.done = True
            self._stream = None
        s.wake()
        if high is not None and len(q) + self._pieces >= high:
            self._hold(HOLD_QUEUE)

    def _maybe_resume(self) -> None:
        q = self._queue
        if self._reading_paused and len(q or ()) + self._pieces <= self._low:
            holds = self._holds = self._holds & ~HOLD_QUEUE
            if not holds:
                self._resume_reading()

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
        if message.__class__ is _Stream:  # arriving in pieces: join them
            q.appendleft(message)  # type: ignore[union-attr]
            return await self._recv_stream(message)  # type: ignore[arg-type]
        if len(q) <= self._low and self._reading_paused:  # type: ignore[arg-type]
            holds = self._holds = self._holds & ~HOLD_QUEUE
            if not holds:
                self._resume_reading()
        return message

    async def _wait_message(self) -> Any:
        """The head of the queue, once there is one (not removed)."""
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
        return q[0]

    async def _stream_wait(self, s: _Stream) -> None:
        w = s.waiter = self._loop.create_future()
        try:
            await w
        finally:
            if s.waiter is w:
                s.waiter = None

    async def _recv_stream(self, s: _Stream) -> Data:
        if s.reading:
            raise RuntimeError("another coroutine is already reading this message")
        s.reading = True
        parts: list = []
        try:
            while True:
                if s.parts:
                    n = len(s.parts)
                    parts.extend(s.parts)
                    s.parts.clear()
                    self._pieces -= n
                    self._maybe_resume()
                if s.done:
                    break
                await self._stream_wait(s)
        except BaseException:
            # cancelled: the pieces go back, nothing is lost
            s.parts.extendleft(reversed(parts))
            self._pieces += len(parts)
            raise
        finally:
            s.reading = False
        q = self._queue
        if q and q[0] is s:
            q.popleft()
            self._maybe_resume()
        if s.aborted:
            raise self._closed_exc()
        return ("" if s.text else b"").join(parts)  # type: ignore[no-any-return]

    async def recv_streaming(self) -> AsyncIterator[Data]:
        """The next message in pieces: ``async for piece in ws.recv_streaming()``.

        With ``streaming=True`` a message that does not arrive whole is
        handed out piece by piece as the pieces arrive (str pieces for
        text, never splitting a character; bytes for binary), so it need
        not fit in memory at once; a message that arrived whole, and every
        message without streaming, is a single piece. Stopping early leaves
        the rest of the message for the next recv()/recv_streaming().
        Raises ConnectionClosed if the connection ends before the message
        (or in the middle of it).
        """
        item = await self._wait_message()
        q = self._queue
        assert q is not None
        if item.__class__ is not _Stream:
            q.popleft()
            self._maybe_resume()
            yield item
            return
        s: _Stream = item
        if s.reading:
            raise RuntimeError("another coroutine is already reading this message")
        s.reading = True
        try:
            while True:
                if s.parts:
                    piece = s.parts.popleft()
                    self._pieces -= 1
                    self._maybe_resume()
                    s.reading = False  # the consumer may recv() the rest meanwhile
                    yield piece
                    if s.reading:
                        raise RuntimeError("another coroutine read this message meanwhile")
                    s.reading = True
                    continue
                if s.done:
                    break
                await self._stream_wait(s)
        finally:
            s.reading = False
        if q and q[0] is s:
            q.popleft()
            self._maybe_resume()
        if s.aborted:
            raise self._closed_exc()

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
        if self._holds & HOLD_WRITE:
            self._release(HOLD_WRITE)
        w = self._drain_waiter
        if w is not None:
            self._drain_waiter = None
            if not w.done():
                w.set_result(None)

    # ---- request/response (JSON-RPC 2.0, see wskit.rpc) ----

    async def request(self, method: str, params: Params = None, *,
                      timeout: Optional[float] = 30.0) -> Any:
        """Call ``method`` on the peer and return its result.

        ``params``: a list/tuple (positional) or dict (named), or None.
        Raises RequestError with the peer's code, message and data for an
        error reply, RequestTimeout when no reply came within ``timeout``
        seconds (None: wait until the connection closes), ConnectionClosed
        when the connection closes first. Either side may call; the other
        answers with its ``methods``.
        """
        while self._fragmenting is not None:  # a fragmented message is on its way
            await asyncio.shield(self._fragmenting)
        fut, over = self._rpc_request(method, params, timeout)
        try:
            if over:
                await self.drain()
            return await fut
        except BaseException:
            fut.cancel()  # no-op when done; otherwise the request is forgotten
            raise

    async def notify(self, method: str, params: Params = None) -> None:
        """Send a JSON-RPC notification: a call that gets no reply."""
        await self.send(self._rpc_notification(method, params))

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
        s = self._stream
        if s is not None:  # the message can no longer end
            self._stream = None
            s.aborted = s.done = True
            s.wake()
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

