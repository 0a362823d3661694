"""A Server-Sent Events client that reconnects and resumes, like a
browser's EventSource, over asyncio streams::

    async for event in wskit.sse_connect("http://host:8765/events?channel=news"):
        print(event.type, event.data, event.id, event.seq)

It sends ``GET`` with ``Accept: text/event-stream`` (and ``Last-Event-ID``
once an id was seen, or the ``last_event_id`` given), wants 200 and
``text/event-stream``, reads the body (chunked too, as nginx sends it)
through the core's parser (wsk_sse_parser_t), and when the stream ends or
breaks connects again after the server's ``retry`` delay, resuming from the
last event id. The response head goes through the core's HTTP parser.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
import urllib.parse
from typing import Any, AsyncIterator, Optional, Sequence, Tuple

from . import _core
from .exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from .http import Response

__all__ = ["sse_connect", "SseEvent"]

logger = logging.getLogger("wskit.sse")

READ_SIZE = 65536


class SseEvent:
    """One event: ``type`` ("message" unless the stream named one, "gap"
    for lost channel messages), ``data`` (str), ``id`` (the last event id
    in force). With wskit's ids "<epoch>:<seq>", ``epoch`` and ``seq`` are
    set, and ``channel`` is the URL's ``channel`` parameter."""

    __slots__ = ("type", "data", "id", "channel", "epoch", "seq")

    def __init__(self, type: str, data: str, id: str, channel: Optional[str] = None) -> None:
        self.type = type
        self.data = data
        self.id = id
        self.channel = channel
        self.epoch: Optional[str] = None
        self.seq: Optional[int] = None
        parsed = _core.sse_parse_id(id) if id else None
        if parsed is not None:
            self.epoch, self.seq = parsed

    def __repr__(self) -> str:
        return f"SseEvent(type={self.type!r}, data={self.data!r}, id={self.id!r})"


class _Ended(Exception):
    """The stream ended cleanly (EOF or the last chunk): reconnect."""


class sse_connect:
    """``async for event in sse_connect(url)``: the events of an
    event stream, across reconnects.

    ``last_event_id`` resumes from there on the first request.
    ``retry`` (s) is the reconnect delay until the server sets one.
    ``max_retries`` bounds consecutive reconnects without a new event
    (None: no bound): past it the iteration ends after a clean end of
    stream, or raises the last error. ``open_timeout`` (s) bounds connect
    and response head, ``read_timeout`` (s, None: none) silence on an
    open stream (servers send heartbeats). An HTTP status other than 200
    raises InvalidStatus and a wrong content type InvalidHandshake, not
    retried (as EventSource does). ``headers``: extra request headers;
    ``ssl``: an SSLContext for https:// (default: verify)."""

    def __init__(self, url: str, *, last_event_id: Optional[str] = None, retry: float = 3.0,
                 max_retries: Optional[int] = None, open_timeout: Optional[float] = 10,
                 read_timeout: Optional[float] = None, max_event: int = 1 << 20,
                 headers: Sequence[Tuple[str, str]] = (),
                 ssl: Optional[ssl_module.SSLContext] = None) -> None:
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise InvalidURI(url, "an SSE URL is http:// or https:// with a host")
        for name, value in headers:
            if any(c in str(name) + str(value) for c in "\r\n\0"):
                raise ValueError("header names and values cannot contain CR, LF or NUL")
        self.url = url
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.target = (u.path or "/") + (f"?{u.query}" if u.query else "")
        self.channel = urllib.parse.parse_qs(u.query).get("channel", [None])[0]
        self.ssl = (ssl or ssl_module.create_default_context()) if u.scheme == "https" else None
        self.last_event_id = last_event_id or ""
        self.retry = retry
        self.max_retries = max_retries
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.max_event = max_event
        self.headers = list(headers)
        self.connections = 0  # streams opened so far (tests and logs read it)
        self.chunked = False  # the last stream came chunked (through nginx, say)

    def _request(self) -> bytes:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.ssl else 80
        lines = [f"GET {self.target} HTTP/1.1",
                 f"Host: {host}" + (f":{self.port}" if self.port != default else ""),
                 "Accept: text/event-stream", "Cache-Control: no-cache"]
        if self.last_event_id:
            lines.append(f"Last-Event-ID: {self.last_event_id}")
        lines += [f"{k}: {v}" for k, v in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    async def _open(self) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter, Any, bytes]:
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.ssl, limit=READ_SIZE,
            server_hostname=self.host if self.ssl else None)
        try:
            writer.write(self._request())
            data = b""
            while True:
                chunk = await reader.read(READ_SIZE)
                if not chunk:
                    raise EOFError("connection closed before the response head")
                data += chunk
                answer = _core.proxy_parse_answer(data)  # the core's bounded HTTP parser
                if answer is not None:
                    break
            status, reason, headers, head_len, _ = answer
            if status != 200:
                raise InvalidStatus(Response(status, headers, b"", reason))
            fields = {k.lower(): v for k, v in headers}
            ctype = fields.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "text/event-stream":
                raise InvalidHandshake(f"not an event stream: Content-Type {ctype or 'missing'}")
            chunked = self.chunked = "chunked" in fields.get("transfer-encoding", "").lower()
            parser = _core.SseParser(max_event=self.max_event, chunked=chunked)
            return reader, writer, parser, data[head_len:]
        except BaseException:
            writer.close()
            raise

    def _event(self, raw: Tuple[str, str, str, int]) -> SseEvent:
        type_, data, id_, retry_ms = raw
        if retry_ms >= 0:
            self.retry = retry_ms / 1000
        self.last_event_id = id_
        return SseEvent(type_, data, id_, self.channel)

    async def _stream(self) -> AsyncIterator[SseEvent]:
        if self.open_timeout:
            opened = await asyncio.wait_for(self._open(), self.open_timeout)
        else:
            opened = await self._open()
        reader, writer, parser, rest = opened
        self.connections += 1
        try:
            if rest:
                parser.feed(rest)
            while True:
                raw = parser.next()
                while raw is not None:
                    yield self._event(raw)
                    raw = parser.next()
                if parser.done:
                    raise _Ended()
                if self.read_timeout:
                    chunk = await asyncio.wait_for(reader.read(READ_SIZE), self.read_timeout)
                else:
                    chunk = await reader.read(READ_SIZE)
                if not chunk:
                    raise _Ended()
                parser.feed(chunk)  # ValueError: broken framing or an event too big
        finally:
            writer.close()

    def __aiter__(self) -> AsyncIterator[SseEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[SseEvent]:
        failures = 0
        while True:
            last: Optional[BaseException] = None
            stream = self._stream()
            try:
                try:
                    async for event in stream:
                        failures = 0
                        yield event
                finally:
                    await stream.aclose()  # closes the socket now, not at GC
                last = None
            except _Ended:
                last = None
            except (InvalidStatus, InvalidHandshake):
                raise  # the server said no: EventSource does not retry either
            except (OSError, EOFError, ValueError, asyncio.TimeoutError) as exc:
                last = exc
            failures += 1
            if self.max_retries is not None and failures > self.max_retries:
                if last is not None:
                    raise last
                return
            logger.info("event stream %s %s; reconnecting in %.3f s", self.url,
                        f"failed ({last})" if last else "ended", self.retry)
            await asyncio.sleep(self.retry)
