"""The callback style: subclass Handler, override on_* methods, and the C
protocol calls them directly, once per event, with no future or task per
message. This is the fast path::

    class Echo(wskit.Handler):
        def on_message(self, message):
            self.send(message)

    async with wskit.serve(Echo, "127.0.0.1", 8765):
        ...

``send()``, ``close()``, ``ping()`` here are plain (not async) calls: they
hand the frame to the transport at once. ``send()`` returns True when the
write buffer went over write_limit; wait for ``on_writable()`` before
sending much more.
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional, Union

from . import _core
from ._guard import HELD
from .protocol import BaseProtocol
from .rpc import HOLD_WRITE, Params

__all__ = ["Handler"]


class Handler(BaseProtocol):
    """Base class of callback-style connections (client or server side).

    Create it with no arguments (pass a factory such as functools.partial
    for your own). Subclasses may add ``__slots__`` to stay small.
    """

    __slots__ = ("_frag_parts",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The C side calls _on_message; point it straight at the subclass's
        # on_message so a message costs one Python call, not two.
        cls._on_message = cls.on_message  # type: ignore[method-assign]

    # ---- calls ----

    # send(message) -> bool: str as text, bytes-like as binary; True when
    # the write buffer is over write_limit. The C method itself, no wrapper.
    send = _core.Protocol._send

    def send_fragment(self, data: Union[str, bytes], fin: bool) -> bool:
        """Send a piece of a message; the first piece's type (str or
        bytes-like) decides the message's. Returns True when over write_limit."""
        return self._send_fragment(data, fin)  # type: ignore[no-any-return]

    def ping(self, data: Optional[Union[str, bytes]] = None) -> int:
        """Send a ping; returns its id (on_pong names the id it answers)."""
        return self._ping(data)  # type: ignore[no-any-return]

    def pong(self, data: Union[str, bytes] = b"") -> None:
        """Send an unsolicited pong."""
        self._pong(data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; on_close follows when it ends."""
        self._close(code, reason)

    def abort(self) -> None:
        """Drop the connection without a closing handshake."""
        self._abort()

    def pause_reading(self) -> None:
        """Stop reading from the socket (receive-side backpressure)."""
        self._pause_reading()

    def resume_reading(self) -> None:
        """Read from the socket again."""
        self._resume_reading()

    def request(self, method: str, params: Params = None, *,
                timeout: Optional[float] = 30.0) -> "asyncio.Future[Any]":
        """Send a JSON-RPC request; returns a future of its result (or of
        RequestError / RequestTimeout / ConnectionClosed). Cancelling the
        future forgets the request."""
        return self._rpc_request(method, params, timeout)[0]

    def notify(self, method: str, params: Params = None) -> bool:
        """Send a JSON-RPC notification (no reply). Returns True when over
        write_limit, as send() does."""
        return self._send(self._rpc_notification(method, params))  # type: ignore[no-any-return]

    @property
    def writable(self) -> bool:
        """False while the write buffer is over write_limit."""
        return not self._writing_paused

    # ---- callbacks to override ----

    def on_open(self) -> None:
        """The handshake is done; the connection is open."""

    def on_message(self, message: Union[str, bytes]) -> None:
        """A whole message: str for text, bytes for binary."""

    def on_fragment(self, data: Union[str, bytes], first: bool, fin: bool) -> None:
        """streaming=True: a piece of a message that did not arrive whole
        (messages that arrive whole go to on_message). By default the
        pieces are joined and the message goes to on_message."""
        if first:
            self._frag_parts = [data]
        else:
            self._frag_parts.append(data)
        if fin:
            parts, self._frag_parts = self._frag_parts, []
            self.on_message(("" if isinstance(data, str) else b"").join(parts))  # type: ignore

    def on_ping(self, data: bytes) -> None:
        """A ping arrived (it is answered automatically)."""

    def on_pong(self, data: bytes, ping_id: int, latency: float) -> None:
        """A pong arrived; it answers ping ``ping_id`` (0: none of ours) and
        every earlier one. ``latency`` is in seconds (ms resolution)."""

    def on_close(self, code: int, reason: str) -> None:
        """The connection ended: the peer's close code (1005 none, 1006 no
        close frame) and reason."""

    def on_writable(self) -> None:
        """The write buffer drained below its low-water mark."""

    # ---- glue called by the C protocol ----

    _on_message = on_message

    def _on_open(self, headers: Any) -> None:
        if headers is not None:
            self._response = headers
        self._open_done()
        server = self._server
        # a server's guard may hold on_open back (first-message auth) or close
        if server is None or server._guard.on_open(self):
            self.on_open()

    def _app_open(self) -> None:
        self.on_open()

    def _on_ping(self, data: bytes) -> None:
        self.on_ping(data)

    def _on_pong(self, data: bytes, ping_id: int, latency_ms: int) -> None:
        self.on_pong(data, ping_id, latency_ms / 1000.0 if latency_ms >= 0 else 0.0)

    def _on_fragment(self, data: Union[str, bytes], first: bool, fin: bool) -> None:
        self.on_fragment(data, first, fin)

    def _on_writable(self) -> None:
        if self._holds & HOLD_WRITE:
            self._release(HOLD_WRITE)
        self.on_writable()

    def _on_closed(self) -> None:
        self._ended()
        if self._guard_bits & HELD:  # the server never handed it to on_open
            return
        code = self.close_code
        self.on_close(1006 if code is None else code, self.close_reason or "")
