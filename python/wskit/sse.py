"""Server-Sent Events on the server's own port (``serve(sse_path="/events")``).

``GET <sse_path>?channel=NAME`` streams one channel as text/event-stream:
the head (the core's wsk_sse_head), ``retry: <sse_retry ms>``, then one
event per channel message with id ``<epoch>:<seq>`` and the payload as data
(text and JSON as they are, binary in base64), ``event: gap`` with the
hub's JSON gap message when messages are lost, and a comment every
``sse_heartbeat`` seconds. A reconnecting EventSource sends Last-Event-ID
(or ``?lastEventId=``) and resumes from the channel's history.

The request arrives like a WebSocket handshake; the connection then drops
its WebSocket core (``_detach``) and its transport only carries these
bytes. It is a CALLBACK-mode subscriber of the hub.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional
from urllib.parse import parse_qs, urlsplit

from . import _core
from .exceptions import BackplaneUnavailable
from .protocol import logger

if TYPE_CHECKING:  # pragma: no cover
    from .hub import ChannelHub

__all__ = ["SseStreams"]

_TEXT = [("Content-Type", "text/plain; charset=utf-8")]

# Bytes a stream may have unsent before it is closed (a reader that far
# behind reconnects and resumes with Last-Event-ID).
MAX_LAG = 4 << 20


class SseStreams:
    """The SSE endpoint of one server and its open streams."""

    def __init__(self, hub: "ChannelHub", path: str, *, heartbeat: Optional[float] = 15.0,
                 retry: Optional[float] = 2.0, max_lag: Optional[int] = None) -> None:
        self._hub = hub
        self._loop = hub._loop
        self.path = path
        self.heartbeat = heartbeat
        self.retry_ms = None if retry is None else int(round(retry * 1000))
        self.max_lag = MAX_LAG if max_lag is None else max_lag
        self._timers: Dict[Any, Any] = {}  # conn -> heartbeat TimerHandle (or None)
        hub.sse = self

    def wants(self, conn: Any) -> bool:
        """Is this request for the SSE endpoint?"""
        req = conn.handshake_request
        return (req is not None and urlsplit(req.path).path == self.path and
                "websocket" not in req.headers.get("Upgrade", "").lower())

    def start(self, conn: Any) -> None:
        """Answer the request with a stream. Called while the connection's
        hooks run: the switch happens right after (_detach is not allowed
        inside a hook)."""
        self._loop.call_soon(self._start, conn)

    def _start(self, conn: Any) -> None:
        if conn._lost or conn._state != 0:
            return
        if self._hub._server._closing:
            conn._reject(503, _TEXT, b"Server is shutting down.\n")
            return
        req = conn.handshake_request
        if not conn._host_allowed(req.headers.get("Host", "")):  # the hosts allowlist
            conn._reject(403, _TEXT, b"Host not allowed\n")
            return
        query = parse_qs(urlsplit(req.path).query)
        channel = (query.get("channel") or [""])[0]
        if not channel or len(channel.encode()) > 1024:
            conn._reject(400, _TEXT, b"SSE needs ?channel=NAME (1 to 1024 bytes)\n")
            return
        if not self._hub._allowed(conn, "subscribe", channel):
            conn._reject(403, _TEXT, b"Forbidden\n")
            return
        last = req.headers.get("Last-Event-ID") or (query.get("lastEventId") or [None])[0]
        since = epoch = None
        if last:
            pos = _core.sse_parse_id(last)
            if pos is not None:  # unknown/invalid ids start from now
                epoch, since = pos
        conn._detach()
        transport = conn.transport
        head = _core.sse_head()
        if self.retry_ms is not None:
            head += _core.sse_retry(self.retry_ms)
        transport.write(head)
        self._timers[conn] = None
        try:
            self._hub.subscribe(conn, channel, since=since, epoch=epoch, json=False,
                                on_error=lambda code, text: self._fail(conn, code, text))
        except (OverflowError, ValueError, BackplaneUnavailable) as exc:
            self._fail(conn, "unavailable" if isinstance(exc, BackplaneUnavailable)
                       else "bad_request", str(exc))
            return
        self._arm(conn)

    def _fail(self, conn: Any, code: str, text: str) -> None:
        # after the head: say why in an error event, then end the stream
        t = conn.transport
        if t is not None and not conn._lost:
            body = _core.chan_build("error", code=code, message=text)
            t.write(_core.sse_event(body, event="error"))
            t.close()

    def _arm(self, conn: Any) -> None:
        if self.heartbeat and conn in self._timers:
            self._timers[conn] = self._loop.call_later(self.heartbeat, self._beat, conn)

    def _beat(self, conn: Any) -> None:
        if conn not in self._timers:
            return
        self._write(conn, _core.sse_comment(None))
        self._arm(conn)

    def _write(self, conn: Any, data: bytes) -> None:
        t = conn.transport
        if t is None or conn._lost:
            return
        t.write(data)
        if conn._writing_paused and t.get_write_buffer_size() > self.max_lag:
            # a reader this far behind resumes later from Last-Event-ID
            logger.warning("SSE reader %r is too slow: closing its stream", conn)
            t.abort()

    def output(self, conn: Any, event: bytes) -> None:
        """An output of the hub for a stream, already in SSE form: the core
        formats it (wsk_sse_hub_event, see hub.ChannelHub._output), so every
        driver sends the same bytes; b"" for nothing to send."""
        if event:
            self._write(conn, event)

    def forget(self, conn: Any) -> None:
        """The stream's connection is gone."""
        timer = self._timers.pop(conn, None)
        if timer is not None:
            timer.cancel()

    def is_stream(self, conn: Any) -> bool:
        return conn in self._timers

    def close(self) -> None:
        """The server closes: end every stream."""
        for conn in list(self._timers):
            self.forget(conn)
            t = conn.transport
            if t is not None and not conn._lost:
                t.close()
