"""Channels with history and resume, served by the server itself.

One ``ChannelHub`` per server wraps the core's hub (``_core.Hub``, the
resume rules live there) and connects it to:

- connections on ``channels_path``: they speak the JSON channel protocol
  (docs/protocol.md) and are answered here, with no user handler;
- SSE streams on ``sse_path`` (wskit.sse);
- raw subscribers, ``ws.subscribe(name)`` from the application: the core's
  channel registry (``server._channels``), which gets the bare payload;
- the Redis backplane when ``backplane=`` is set (wskit.backplane): then
  Redis numbers every message and keeps the history, and every message
  reaches the subscribers through ``dispatch`` as it comes back from Redis,
  on every instance, in one order.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from . import _core
from ._payload import encode_payload
from .exceptions import BackplaneUnavailable
from .protocol import logger

if TYPE_CHECKING:  # pragma: no cover
    from .server import Server

__all__ = ["ChannelHub", "encode_payload"]

Authorize = Callable[[Any, str, str], Any]

MESSAGE, SUBSCRIBED, GAP = 1, 2, 3

# Bytes a channels_path subscriber may have unsent in its transport before
# it is closed (it resumes from the history when it comes back): a slow
# reader is never silently skipped, nor buffered for without bound.
MAX_LAG = 8 << 20

# A failed history fetch (a Redis error reply, a timeout) is tried this
# many times, RECOVER_DELAY seconds apart at first (doubling), before the
# backplane is treated as lost (it then reconnects and resyncs).
RECOVER_TRIES = 3
RECOVER_DELAY = 0.2


def _raw(kind: str, payload: Any) -> Any:
    # what a raw subscriber gets: a text frame unless the payload is binary
    if kind == "b":
        return payload
    return payload.decode("utf-8") if isinstance(payload, bytes) else payload


class ChannelHub:
    """The server's channels: see the module docstring."""

    def __init__(self, server: "Server", *, history_size: int = 100,
                 history_ttl: float = 300.0, max_subscriptions: int = 100,
                 client_publish: bool = True, authorize: Optional[Authorize] = None,
                 backplane: Optional[str] = None, backplane_prefix: str = "wskit:",
                 max_lag: Optional[int] = None) -> None:
        self._server = server
        self._loop = server._loop
        self.client_publish = client_publish
        self.authorize = authorize
        self.history_size = history_size
        self.history_ttl = history_ttl
        self.core = _core.Hub(self._output, history_size=history_size, history_ttl=history_ttl,
                              max_subscriptions=max_subscriptions, external=backplane is not None,
                              lagging=self._lagging,
                              max_lag=MAX_LAG if max_lag is None else max_lag)
        self.sse: Any = None  # wskit.sse.SseStreams when sse_path is set
        self.backplane: Any = None
        if backplane is not None:
            from .backplane import RedisBackplane
            self.backplane = RedisBackplane(backplane, backplane_prefix, history_size=history_size,
                                            history_ttl=history_ttl, on_envelope=self.dispatch,
                                            resync=self._resync_all)

    # ---- publishing ----

    def publish(self, channel: str, data: Any) -> List[Any]:
        """Publish from the application (Server.publish). In-process: numbered,
        kept and delivered now; returns the raw subscribers skipped (slow).
        With a backplane: sent to Redis in order and delivered when it comes
        back; raises BackplaneUnavailable while Redis is down."""
        kind, payload = encode_payload(data)
        if self.backplane is not None:
            self.backplane.publish_nowait(channel, kind, payload)
            return []
        self.core.publish(channel, payload, kind)
        return self._raw_deliver(channel, kind, payload)

    async def apublish(self, channel: str, data: Any) -> int:
        """Publish and return the message's seq once it is numbered."""
        kind, payload = encode_payload(data)
        return await self._publish(channel, kind, payload)

    async def _publish(self, channel: str, kind: str, payload: Any) -> int:
        if self.backplane is not None:
            return await self.backplane.publish(channel, kind, payload)  # type: ignore
        seq = self.core.publish(channel, payload, kind)
        self._raw_deliver(channel, kind, payload)
        return seq  # type: ignore[no-any-return]

    def _raw_deliver(self, channel: str, kind: str, payload: Any) -> List[Any]:
        channels = self._server._channels
        if not channels.count(channel):
            return []
        skipped = channels.publish(channel, _raw(kind, payload))
        if skipped:
            logger.debug("publish to %r skipped %d slow or closing connection(s)", channel,
                         len(skipped))
        return skipped  # type: ignore[no-any-return]

    def dispatch(self, envelope: bytes) -> None:
        """A message that came back from the backplane."""
        try:
            _origin, channel, _seq, _epoch, kind, payload = self.core.dispatch(envelope)
        except ValueError:
            logger.warning("backplane: dropped a malformed message", exc_info=True)
            return
        self._raw_deliver(channel, kind, payload)

    # ---- outputs of the core hub ----

    def _output(self, sub: Any, kind: int, channel: str, epoch: str, seq: int,
                pkind: Optional[str], payload: Optional[bytes], text: str, first: int,
                last: int, reason: Optional[str], event: bytes) -> None:
        # only callback-mode subscribers come here: SSE streams; `event` is
        # the output in SSE form, made by the core
        sse = self.sse
        if sse is not None:
            try:
                sse.output(sub, event)
            except Exception:
                logger.error("SSE output failed", exc_info=True)

    def _lagging(self, conn: Any) -> None:
        logger.warning("channel subscriber %r is too slow: closing it (it may resume)", conn)
        conn._abort()

    # ---- subscribers ----

    def forget(self, sub: Any) -> None:
        """A connection or stream ended."""
        self.core.drop(sub)
        if self.sse is not None:
            self.sse.forget(sub)

    def subscribe(self, sub: Any, channel: str, *, since: Optional[int] = None,
                  epoch: Optional[str] = None, id: Optional[str] = None, json: bool = True,
                  on_error: Optional[Callable[[str, str], None]] = None) -> None:
        """Subscribe ``sub`` (raises OverflowError / ValueError / BackplaneUnavailable).
        With a backplane the history is fetched in the background; a failure
        then unsubscribes it and calls on_error(code, message)."""
        if self.backplane is not None and not self.backplane.up:
            raise BackplaneUnavailable("unavailable", "the backplane (redis) is down", channel)
        fetch = self.core.subscribe(sub, channel, since, epoch, id, json)
        if fetch is not None:
            self._server._spawn(self._recover(sub, channel, fetch, on_error))

    async def _recover(self, sub: Any, channel: str, since: int,
                       on_error: Optional[Callable[[str, str], None]]) -> None:
        try:
            epoch, top, envelopes = await self._fetch(channel, since)
            self.core.recovered(sub, channel, epoch, top, envelopes)
        except Exception as exc:
            if not isinstance(exc, BackplaneUnavailable):
                logger.error("backplane: recovering %r failed", channel, exc_info=True)
            self.core.unsubscribe(sub, channel)
            if on_error is not None:
                on_error("unavailable", getattr(exc, "message", "the backplane failed"))

    async def _resync_all(self) -> int:
        """After Redis came back: every channel with local subscribers
        fetches what it missed (the hub holds live messages meanwhile).

        Every channel is marked first, then all are fetched at once: the
        pub/sub reader already runs, and a live message for a channel not
        yet marked would move its position past what the fetch brings.
        A fetch that fails is retried (RECOVER_TRIES, with backoff); then
        the error is raised and the backplane treats it as a lost
        connection: it reconnects and resyncs again, so no subscriber
        stays "recovering" for good."""
        marked = []
        for channel in self.core.channels():
            count, since = self.core.resync(channel)
            if count:
                marked.append((channel, since))
        results = await asyncio.gather(*(self._fetch(c, s) for c, s in marked),
                                       return_exceptions=True)
        failed = None
        for (channel, _since), res in zip(marked, results):
            if isinstance(res, BaseException):
                failed = failed or res
                continue
            epoch, top, envelopes = res
            self.core.recovered(None, channel, epoch, top, envelopes)
        if failed is not None:
            raise failed
        return len(marked)

    async def _fetch(self, channel: str, since: int) -> Tuple[str, int, List[bytes]]:
        # the recover script's answer, with a few tries: a Redis error
        # reply or a timeout may pass; a lost connection ends the tries
        delay = RECOVER_DELAY
        for attempt in range(1, RECOVER_TRIES + 1):
            try:
                return await self.backplane.recover(channel, since)  # type: ignore
            except BackplaneUnavailable:
                raise  # the connection is gone: the reconnect resyncs
            except Exception as exc:
                if attempt == RECOVER_TRIES:
                    raise
                logger.warning("backplane: recovering %r failed (%s); try %d of %d in %.2f s",
                               channel, exc, attempt + 1, RECOVER_TRIES, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- the JSON channel protocol ----

    @staticmethod
    def is_channels_request(conn: Any, path: str) -> bool:
        req = conn.handshake_request
        return req is not None and req.path.split("?", 1)[0] == path

    def handle(self, conn: Any, message: Any) -> None:
        """One message from a channels_path connection."""
        if not isinstance(message, str):
            self._error(conn, "bad_request", "channel messages are JSON text")
            return
        try:
            f = _core.chan_parse(message)
        except ValueError as exc:
            self._error(conn, "bad_request", str(exc))
            return
        t = f["type"]
        channel, id_ = f["channel"], f["id"]
        if t == "subscribe":
            self._on_subscribe(conn, channel, f, id_)
        elif t == "unsubscribe":
            if self.core.unsubscribe(conn, channel):
                conn._send(_core.chan_build("unsubscribed", channel=channel, id=id_))
            else:
                self._error(conn, "not_subscribed", "not subscribed to this channel", channel,
                            id_)
        elif t == "publish":
            self._on_publish(conn, channel, f, id_)
        else:
            self._error(conn, "bad_request", f"a client cannot send {t!r}", channel, id_)

    def _allowed(self, conn: Any, action: str, channel: str) -> bool:
        hook = self.authorize
        if hook is None:
            return True
        try:
            return bool(hook(conn, action, channel))
        except Exception:
            logger.error("authorize hook failed", exc_info=True)
            return False

    def _on_subscribe(self, conn: Any, channel: str, f: Dict[str, Any], id_: Optional[str]
                      ) -> None:
        if not self._allowed(conn, "subscribe", channel):
            self._error(conn, "forbidden", "not allowed to subscribe", channel, id_)
            return
        try:
            self.subscribe(conn, channel, since=f["since"], epoch=f["epoch"], id=id_,
                           on_error=lambda code, text: self._error(conn, code, text, channel,
                                                                   id_))
        except OverflowError:
            self._error(conn, "too_many_channels", "too many subscriptions", channel, id_)
        except ValueError as exc:
            self._error(conn, "bad_request", str(exc), channel, id_)
        except BackplaneUnavailable as exc:
            self._error(conn, "unavailable", exc.message, channel, id_)

    def _on_publish(self, conn: Any, channel: str, f: Dict[str, Any], id_: Optional[str]
                    ) -> None:
        if not self.client_publish or not self._allowed(conn, "publish", channel):
            self._error(conn, "forbidden", "not allowed to publish", channel, id_)
            return
        kind, payload = f["kind"], f["payload"]
        if self.backplane is None:
            try:
                seq = self.core.publish(channel, payload, kind)
            except ValueError as exc:
                self._error(conn, "bad_request", str(exc), channel, id_)
                return
            self._raw_deliver(channel, kind, payload)
            self._ack(conn, channel, seq, id_)
            return
        self._server._spawn(self._publish_remote(conn, channel, kind, payload, id_))

    async def _publish_remote(self, conn: Any, channel: str, kind: str, payload: bytes,
                              id_: Optional[str]) -> None:
        try:
            seq = await self.backplane.publish(channel, kind, payload)
        except Exception as exc:
            if not isinstance(exc, BackplaneUnavailable):
                logger.error("backplane: publish to %r failed", channel, exc_info=True)
            self._error(conn, "unavailable", getattr(exc, "message", "the backplane failed"),
                        channel, id_)
            return
        self._ack(conn, channel, seq, id_)

    def _ack(self, conn: Any, channel: str, seq: int, id_: Optional[str]) -> None:
        if conn._state == 1:
            conn._send(_core.chan_build("published", channel=channel, seq=seq, id=id_))

    def _error(self, conn: Any, code: str, text: str, channel: Optional[str] = None,
               id_: Optional[str] = None) -> None:
        if conn._state == 1:  # still open
            conn._send(_core.chan_build("error", code=code, message=text, channel=channel,
                                        id=id_))

    # ---- lifecycle ----

    async def start(self) -> None:
        if self.backplane is not None:
            await self.backplane.start()

    def close(self) -> None:
        if self.sse is not None:
            self.sse.close()
        if self.backplane is not None:
            self.backplane.close()

    async def wait_closed(self) -> None:
        if self.backplane is not None:
            await self.backplane.wait_closed()


# ---- connections on channels_path ----

_CLASSES: Dict[type, type] = {}


def channel_class(cls: type) -> type:
    """A subclass of the server's connection class (same layout, so an
    accepted connection can switch to it) whose messages go to the hub
    instead of the application."""
    sub = _CLASSES.get(cls)
    if sub is None:
        def _on_message(self: Any, message: Any) -> None:
            self._server._hub.handle(self, message)

        def _app_open(self: Any) -> None:
            pass  # no application handler: the hub answers

        def _on_open(self: Any, headers: Any) -> None:
            guard = getattr(self._server, "_guard", None)
            if guard is None or guard.on_open(self):
                self._app_open()

        def _on_fragment(self: Any, data: Any, first: bool, fin: bool) -> None:
            # streaming=True: a message that did not arrive whole is too big
            if first:
                self._server._hub._error(self, "bad_request", "message too big")

        ns = {"__slots__": (), "_on_message": _on_message, "_app_open": _app_open,
              "_on_open": _on_open, "_on_fragment": _on_fragment, "on_message": _on_message}
        sub = type("Channel" + cls.__name__, (cls,), ns)
        sub._on_message = _on_message  # type: ignore[attr-defined]  # (Handler rebinds it)
        _CLASSES[cls] = sub
    return sub
