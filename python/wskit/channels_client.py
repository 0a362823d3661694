"""The client's side of the JSON channel protocol (docs/protocol.md), on
``wskit.connect()`` connections::

    async for ws in wskit.connect("ws://host/channels"):
        await ws.subscribe("news")           # resubscribed for you after a reconnect
        try:
            async for m in ws:               # wskit.ChannelMessage(channel, seq, epoch, data)
                ...
        except wskit.ChannelGap as gap:      # messages lost for good: said, never silent
            ...
        except wskit.ConnectionClosed:
            continue

The positions (epoch and last seq per channel) are kept by the core's
tracker (wsk_chan_client_t, _core.ChanClient) that lives on the connect()
object, so each new connection of ``async for ws in connect(...)``
resubscribes with since/epoch before it is handed out: what was missed
arrives once, in order; duplicates are dropped by the tracker.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from typing import Any, Dict, Optional

from . import _core
from ._payload import encode_payload
from .exceptions import ChannelError, ChannelGap, RequestTimeout

__all__ = ["ChannelMessage", "ChannelSession"]

logger = logging.getLogger("wskit.client")


class ChannelMessage:
    """A message of a subscribed channel: ``data`` is str (text), bytes
    (binary) or the decoded JSON value (a JSON payload)."""

    __slots__ = ("channel", "seq", "epoch", "data")

    def __init__(self, channel: str, seq: int, epoch: str, data: Any) -> None:
        self.channel = channel
        self.seq = seq
        self.epoch = epoch
        self.data = data

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, ChannelMessage):
            return NotImplemented
        return (self.channel, self.seq, self.epoch, self.data) == \
            (other.channel, other.seq, other.epoch, other.data)

    def __repr__(self) -> str:
        return (f"ChannelMessage(channel={self.channel!r}, seq={self.seq}, "
                f"epoch={self.epoch!r}, data={self.data!r})")


class ChannelSession:
    """What a connect() object shares with each of its connections: the
    tracker, made on the first channel call (until then, messages are
    never looked at)."""

    __slots__ = ("tracker", "ids")

    def __init__(self) -> None:
        self.tracker: Any = None
        self.ids = itertools.count(1)

    def get(self) -> Any:
        t = self.tracker
        if t is None:
            t = self.tracker = _core.ChanClient()
        return t


class ChannelsMixin:
    """subscribe / unsubscribe / publish on ClientConnection, and the
    routing of the protocol's frames (which ClientConnection calls from
    _on_message). Slots (_chan, _chan_pending) are ClientConnection's."""

    __slots__ = ()

    _chan: Optional[ChannelSession]
    _chan_pending: Optional[Dict[Any, "asyncio.Future[Any]"]]

    # ---- incoming ----

    def _chan_frame(self, message: str) -> Any:
        """The protocol frame's effect: an item to queue for recv()
        (ChannelMessage or an exception), None when consumed, or the
        message itself when it is not a protocol frame."""
        f = self._chan.tracker.feed(message)  # type: ignore[union-attr]
        if f is None:
            return message
        typ = f["type"]
        if typ == "message":
            if f["verdict"] != "deliver":
                return None  # a duplicate after a resume, or a channel we left
            data = f["data"]
            if f["kind"] == "j":
                data = json.loads(data)
            return ChannelMessage(f["channel"], f["seq"], f.get("epoch", ""), data)
        channel = f.get("channel")
        if typ == "gap":
            if channel is None or self._chan.tracker.position(channel) is None:  # type: ignore
                return None
            return ChannelGap(channel, f["from"], f["to"], f.get("reason", ""))
        if typ in ("subscribed", "unsubscribed", "published", "error"):
            key = f.get("id")
            if key is None and channel is not None:
                key = ("resub", channel)  # resubscriptions carry no id
            pending = self._chan_pending
            fut = pending.pop(key, None) if pending else None
            if typ == "error":
                exc = ChannelError(f.get("code", ""), f.get("message", ""), channel)
                if fut is not None and not fut.done():
                    fut.set_exception(exc)
                else:
                    logger.warning("channel error from the server: %s", exc)
            elif fut is not None and not fut.done():
                fut.set_result(f)
            return None
        return message  # a client->server type coming back: not ours to judge

    def _chan_fail_pending(self, exc: BaseException) -> None:
        pending, self._chan_pending = self._chan_pending, None
        for fut in (pending or {}).values():
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: a request nobody awaits any more logs nothing

    # ---- requests ----

    def _session(self) -> ChannelSession:
        s = self._chan
        if s is None:  # a connection not made by connect(): a session of its own
            s = self._chan = ChannelSession()
        s.get()
        return s

    async def _chan_request(self, key: Any, text: str, what: str, timeout: Optional[float]) -> Any:
        if self._state == 3:  # type: ignore[attr-defined]
            raise self._closed_exc()  # type: ignore[attr-defined]
        fut = self._loop.create_future()  # type: ignore[attr-defined]
        if self._chan_pending is None:
            self._chan_pending = {}
        self._chan_pending[key] = fut
        try:
            await self.send(text)  # type: ignore[attr-defined]
            if timeout is None:
                return await fut
            # not wait_for: on 3.11 it can swallow a cancel that races the reply
            done, _ = await asyncio.wait({fut}, timeout=timeout)
            if not done:
                raise RequestTimeout(what, timeout)
            return fut.result()
        finally:
            p = self._chan_pending
            if p is not None and p.get(key) is fut:
                del p[key]

    async def subscribe(self, channel: str, *, timeout: Optional[float] = 10) -> None:
        """Subscribe to ``channel`` and wait for the server's "subscribed".

        Its messages then come from recv() as ChannelMessage; a reconnecting
        ``async for ws in connect(...)`` resubscribes by itself, resuming
        after the last message seen. ChannelError when refused (the channel
        is then not tracked), RequestTimeout without an answer."""
        s = self._session()
        s.tracker.add(channel)
        msg_id = next(s.ids)
        try:
            await self._chan_request(msg_id, s.tracker.subscribe(channel, msg_id), "subscribe",
                                     timeout)
        except ChannelError:
            s.tracker.remove(channel)
            raise

    async def unsubscribe(self, channel: str, *, timeout: Optional[float] = 10) -> None:
        """Leave ``channel`` (its messages still in flight are dropped) and
        wait for the server's "unsubscribed"."""
        s = self._session()
        s.tracker.remove(channel)
        msg_id = next(s.ids)
        await self._chan_request(msg_id, s.tracker.unsubscribe(channel, msg_id), "unsubscribe",
                                 timeout)

    async def publish(self, channel: str, data: Any, *, timeout: Optional[float] = 10) -> int:
        """Publish ``data`` on ``channel``: str as text, bytes as binary,
        anything else as JSON. Returns the message's sequence number once
        the server acknowledged it ("published"); ChannelError with the
        server's code ("forbidden", "rate_limited", "unavailable"...)."""
        s = self._session()
        kind, payload = encode_payload(data)
        msg_id = next(s.ids)
        f = await self._chan_request(msg_id, s.tracker.publish(channel, kind, payload, msg_id),
                                     "publish", timeout)
        return int(f["seq"])

    async def _chan_resume(self, timeout: Optional[float]) -> None:
        """After a reconnect: resubscribe every tracked channel with
        since/epoch and wait for each answer. A channel the server now
        refuses is untracked and its ChannelError queued for recv()."""
        s = self._chan
        if s is None or s.tracker is None or not len(s.tracker):
            return
        waits = []
        for text in s.tracker.resubscribe():
            channel = json.loads(text)["channel"]
            waits.append((channel, asyncio.ensure_future(
                self._chan_request(("resub", channel), text, "subscribe", timeout))))
        for channel, task in waits:
            try:
                await task
            except ChannelError as exc:
                s.tracker.remove(channel)
                logger.warning("resubscribing to %r failed: %s", channel, exc)
                self._queue_item(exc)  # type: ignore[attr-defined]
            except BaseException:
                for _, t in waits:
                    t.cancel()
                raise
