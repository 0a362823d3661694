"""The Redis backplane (``serve(backplane="redis://HOST:PORT/DB")``): what
lets several server instances share channels, over redis-py's asyncio
client. Everything that crosses Redis (the envelope, the key names, the
publish and recover scripts) is the core's (backplane.h); this module only
moves those bytes.

Two connections: one for commands (EVAL of the publish and recover
scripts, one at a time in call order) and one subscribed with PSUBSCRIBE to
``<prefix>msg:*``. Every message coming back from pub/sub goes to the hub,
the publishing instance's own included, so every instance delivers one
order. When Redis goes away the server keeps serving its local clients,
publishes fail with BackplaneUnavailable, and this module reconnects with
the core's backoff; then it subscribes again and every channel with local
subscribers fetches what it missed from the Redis stream (resync).
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any, Awaitable, Callable, Deque, List, Optional, Tuple

from . import _core
from .exceptions import BackplaneUnavailable
from .protocol import logger
from .reconnect import Backoff

__all__ = ["RedisBackplane"]

try:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError, ResponseError
except ImportError:  # pragma: no cover - python3-redis missing
    aioredis = None  # type: ignore[assignment]
    RedisError = ResponseError = OSError  # type: ignore[assignment,misc]

# Publishes sent in one pipeline at most.
MAX_BATCH = 512

# Publishes waiting to be sent at most, in count and in payload bytes:
# past either, a publish fails with BackplaneUnavailable ("unavailable").
MAX_QUEUE = 10000
MAX_QUEUE_BYTES = 64 << 20

# What a lost connection raises (redis-py wraps most socket errors).
_LOST = (RedisError, OSError, EOFError, asyncio.IncompleteReadError)


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


def _redact(url: str) -> str:
    # redis://user:password@host -> redis://***@host, for the logs
    head, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return head + "://***@" + rest.split("@", 1)[1]
    return url


class RedisBackplane:
    """One server's link to Redis (see the module docstring)."""

    def __init__(self, url: str, prefix: str = "wskit:", *, history_size: int = 100,
                 history_ttl: float = 300.0, on_envelope: Callable[[bytes], None],
                 resync: Callable[[], Awaitable[int]], backoff: Optional[Backoff] = None,
                 connect_timeout: float = 5.0, command_timeout: float = 10.0) -> None:
        if aioredis is None:
            raise RuntimeError("backplane= needs redis-py (Debian: python3-redis)")
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"backplane must be a redis:// URL, not {url!r}")
        self.url = url
        self.prefix = prefix
        self.origin: str = _core.backplane_new_origin()
        self.history_size = max(0, int(history_size))
        self.ttl_ms = max(0, int(round(history_ttl * 1000)))
        self._on_envelope = on_envelope
        self._resync = resync
        self._backoff = backoff or Backoff(initial_delay=0.1, min_delay=0.25, max_delay=5.0,
                                           reset_after=5.0)
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self.up = False
        self.resyncs = 0  # completed reconnections (for tests and stats)
        self._cmd: Any = None
        self._sub: Any = None
        self._lost: Optional[asyncio.Event] = None
        self._ready: Optional[asyncio.Event] = None
        self._task: Optional["asyncio.Task[None]"] = None
        self._queue: Deque[Tuple[str, str, Any, Optional["asyncio.Future[int]"]]] = \
            collections.deque()
        self._queued_bytes = 0  # payload bytes in _queue
        self.max_queue = MAX_QUEUE
        self.max_queue_bytes = MAX_QUEUE_BYTES
        self._wake: Optional[asyncio.Event] = None
        self._writer: Optional["asyncio.Task[None]"] = None
        self._closing = False

    # ---- lifecycle ----

    async def start(self) -> None:
        """Connect: returns once the first attempt succeeded or failed (at
        most connect_timeout); after a failure it keeps trying in the
        background, and publishes fail until it succeeds."""
        loop = asyncio.get_running_loop()
        self._lost = asyncio.Event()
        self._ready = asyncio.Event()  # the first attempt ended, either way
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run())
        self._writer = loop.create_task(self._write_loop())
        try:
            await asyncio.wait_for(self._ready.wait(), self._connect_timeout + 1)
        except asyncio.TimeoutError:
            pass
        if not self.up:
            logger.warning("backplane: redis %s is not reachable yet; retrying in the "
                           "background", _redact(self.url))

    def close(self) -> None:
        self._closing = True
        for t in (self._task, self._writer):
            if t is not None:
                t.cancel()
        self._fail_queue("the server is closing")

    async def wait_closed(self) -> None:
        tasks = [t for t in (self._task, self._writer) if t is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._disconnect()

    async def _disconnect(self) -> None:
        cmd, sub, self._cmd, self._sub = self._cmd, self._sub, None, None
        for client in (sub, cmd):
            if client is None:
                continue
            try:
                await client.close()
                await client.connection_pool.disconnect()
            except Exception:  # already broken: nothing more to release
                pass

    async def _connect(self) -> Any:
        t = self._connect_timeout
        # one command connection: the pool of one makes commands and
        # pipelines wait for each other; a Redis that stops answering counts
        # as lost after command_timeout
        cmd = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
            self.url, socket_connect_timeout=t, socket_timeout=self._command_timeout,
            max_connections=1, timeout=None))
        sub = aioredis.Redis(connection_pool=aioredis.ConnectionPool.from_url(
            self.url, socket_connect_timeout=t))
        self._cmd, self._sub = cmd, sub
        await cmd.ping()
        pubsub = sub.pubsub()
        await pubsub.psubscribe(self.prefix + "msg:*")
        return pubsub

    async def _run(self) -> None:
        """Connect, listen, and on loss reconnect with the core's backoff."""
        policy = self._backoff.policy()
        connected_once = False
        assert self._lost is not None and self._ready is not None
        while not self._closing:
            try:
                pubsub = await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._disconnect()
                self._ready.set()
                delay = policy.next()
                logger.info("backplane: cannot reach redis %s (%s); next try in %.2f s",
                            _redact(self.url), exc, max(delay, 0) / 1000)
                await asyncio.sleep(max(delay, 0) / 1000)
                continue
            policy.opened(_now_ms())
            self._lost.clear()
            self.up = True
            reader = asyncio.get_running_loop().create_task(self._read(pubsub))
            try:
                if connected_once:
                    try:
                        n = await self._resync()
                    except BackplaneUnavailable:
                        n = -1  # lost again: the next connection resyncs
                    except Exception as exc:
                        # the subscribers are still waiting for their history:
                        # start over as after a loss (reconnect, resync again)
                        logger.error("backplane: resync failed; reconnecting", exc_info=True)
                        self._mark_lost(exc)
                        n = -1
                    if n >= 0:
                        self.resyncs += 1
                        logger.warning("backplane: resubscribed to redis %s, resynced %d "
                                       "channel(s)", _redact(self.url), n)
                else:
                    logger.info("backplane: connected to redis %s (prefix %r, origin %s)",
                                _redact(self.url), self.prefix, self.origin)
                connected_once = True
                self._ready.set()
                await self._lost.wait()
            finally:
                self.up = False
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                await self._disconnect()
            policy.closed(_now_ms())
            if self._closing:
                break
            self._fail_queue("lost the connection to redis")
            delay = policy.next()
            await asyncio.sleep(max(delay, 0) / 1000)

    def _mark_lost(self, exc: BaseException) -> None:
        if self.up and not self._closing:
            logger.warning("backplane: lost redis %s: %s; serving local clients, "
                           "reconnecting", _redact(self.url), exc or type(exc).__name__)
        self.up = False
        if self._lost is not None:
            self._lost.set()

    async def _read(self, pubsub: Any) -> None:
        try:
            async for m in pubsub.listen():
                if m.get("type") != "pmessage":
                    continue
                data = m.get("data")
                if isinstance(data, bytes):
                    try:
                        self._on_envelope(data)
                    except Exception:
                        logger.error("backplane: delivering a message failed", exc_info=True)
            raise ConnectionError("the subscription ended")
        except asyncio.CancelledError:
            raise
        except _LOST as exc:
            self._mark_lost(exc)

    # ---- commands ----

    def _keys(self, channel: str) -> Tuple[str, str, str]:
        p = self.prefix
        return (_core.backplane_key(p, "meta", channel), _core.backplane_key(p, "hist", channel),
                _core.backplane_key(p, "msg", channel))

    async def _eval(self, script: str, *args: Any) -> Any:
        cmd = self._cmd
        if not self.up or cmd is None:
            raise BackplaneUnavailable("unavailable", "the backplane (redis) is down")
        try:
            return await cmd.eval(script, 2, *args)
        except asyncio.CancelledError:
            raise
        except _LOST as exc:
            if isinstance(exc, ResponseError):
                raise  # a script error: a bug, not an outage
            self._mark_lost(exc)
            raise BackplaneUnavailable("unavailable", f"redis failed: {exc}") from exc

    def _publish_args(self, channel: str, kind: str, payload: Any) -> Tuple[Any, ...]:
        meta, hist, msg = self._keys(channel)
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        return (meta, hist, msg, kind, self.origin, channel, payload, self.history_size,
                self.ttl_ms)

    async def _eval_publishes(self, batch: List[Tuple[str, str, Any]]) -> List[Any]:
        """EVAL the publish script for each, in one round trip: the seq of
        each, or its exception (a script error)."""
        cmd = self._cmd
        if not self.up or cmd is None:
            raise BackplaneUnavailable("unavailable", "the backplane (redis) is down")
        pipe = cmd.pipeline(transaction=False)
        for channel, kind, payload in batch:
            pipe.eval(_core.REDIS_PUBLISH_SCRIPT, 2, *self._publish_args(channel, kind, payload))
        try:
            replies = await pipe.execute(raise_on_error=False)
        except asyncio.CancelledError:
            raise
        except _LOST as exc:
            self._mark_lost(exc)
            raise BackplaneUnavailable("unavailable", f"redis failed: {exc}") from exc
        return [r if isinstance(r, Exception) else int(r[0]) for r in replies]

    def _enqueue(self, channel: str, kind: str, payload: Any,
                 fut: Optional["asyncio.Future[int]"]) -> None:
        # fail fast rather than grow: Redis slower than the publishers, or
        # hanging until command_timeout, must not eat the server's memory
        if not self.up:
            raise BackplaneUnavailable("unavailable", "the backplane (redis) is down", channel)
        size = len(payload)
        if len(self._queue) >= self.max_queue or self._queued_bytes + size > self.max_queue_bytes:
            raise BackplaneUnavailable(
                "unavailable", f"too many publishes waiting for redis ({len(self._queue)} "
                f"messages, {self._queued_bytes} bytes)", channel)
        self._queue.append((channel, kind, payload, fut))
        self._queued_bytes += size
        assert self._wake is not None
        self._wake.set()

    def publish_nowait(self, channel: str, kind: str, payload: Any) -> None:
        """Queue a publish (sent in call order); BackplaneUnavailable now if
        Redis is known to be down or the queue is full (max_queue messages
        or max_queue_bytes of payload)."""
        self._enqueue(channel, kind, payload, None)

    async def publish(self, channel: str, kind: str, payload: Any) -> int:
        """Publish through Redis; returns the seq Redis gave it."""
        fut: "asyncio.Future[int]" = asyncio.get_running_loop().create_future()
        self._enqueue(channel, kind, payload, fut)
        return await fut

    async def _write_loop(self) -> None:
        # Publishes go out in the order they were asked for; whatever queued
        # up meanwhile goes in one pipeline (one round trip).
        assert self._wake is not None
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            items = []
            while self._queue and len(items) < MAX_BATCH:
                item = self._queue.popleft()
                self._queued_bytes -= len(item[2])
                if item[3] is None or not item[3].done():  # else the caller gave up
                    items.append(item)
            if not items:
                continue
            try:
                results = await self._eval_publishes([i[:3] for i in items])
            except asyncio.CancelledError:
                for *_, fut in items:
                    if fut is not None and not fut.done():
                        fut.cancel()
                raise
            except Exception as exc:
                results = [exc] * len(items)
            for (channel, _kind, _payload, fut), res in zip(items, results):
                if fut is None:
                    if isinstance(res, Exception):
                        logger.warning("backplane: publish to %r failed: %s", channel, res)
                elif not fut.done():
                    if isinstance(res, Exception):
                        fut.set_exception(res)
                    else:
                        fut.set_result(res)

    def _fail_queue(self, why: str) -> None:
        queue, self._queue = self._queue, collections.deque()
        self._queued_bytes = 0
        for channel, _kind, _payload, fut in queue:
            exc = BackplaneUnavailable("unavailable", why, channel)
            if fut is None:
                logger.warning("backplane: publish to %r failed: %s", channel, why)
            elif not fut.done():
                fut.set_exception(exc)

    async def recover(self, channel: str, since: int) -> Tuple[str, int, List[bytes]]:
        """The channel's history after ``since`` (-1: position only):
        (epoch, newest seq, envelopes oldest first)."""
        meta, hist, _msg = self._keys(channel)
        res = await self._eval(_core.REDIS_RECOVER_SCRIPT, meta, hist, since, self.ttl_ms,
                               max(self.history_size, 1))
        epoch = res[0].decode("ascii") if isinstance(res[0], bytes) else str(res[0])
        return epoch, int(res[1]), [e for e in res[2:] if isinstance(e, bytes)]
