"""The Redis backplane when things go wrong, against a real redis-server:
live messages during a resync, a history fetch that fails (a Redis error
reply), a bad entry in the history, and a publish queue that Redis does
not drain fast enough."""

import asyncio
import json
import logging

import pytest
import websockets

import wskit
from wskit import _core

from redis_server import redis_server  # noqa: F401  (fixture)
from test_backplane import instances, recv, subscribe, wait_for

pytestmark = pytest.mark.timeout(60)


def third_party_publish(redis, channel, data):
    """A publish by another instance, straight through the script."""
    keys = [_core.backplane_key("wskit:", k, channel) for k in ("meta", "hist", "msg")]
    reply = redis.command("EVAL", _core.REDIS_PUBLISH_SCRIPT, 2, *keys, "t", "other-origin",
                          channel, data, 100, 300000)
    assert reply.startswith(b"*2"), reply


async def test_resync_marks_every_channel_before_fetching(redis_server):
    # While channel "a" is being fetched, a live message of "b" arrives: "b"
    # must already be held, or its missed messages would be lost.
    async with instances(redis_server, n=1) as (servers, urls):
        bp = servers[0]._hub.backplane
        async with websockets.connect(urls[0] + "/channels") as ws:
            await subscribe(ws, "a")
            await subscribe(ws, "b")
            real_recover = bp.recover

            async def recover(channel, since):
                if channel == "a":  # b's next live message comes during a's fetch
                    third_party_publish(redis_server, "b", "b4")
                    await asyncio.sleep(0.3)  # the pub/sub reader gets it meanwhile
                return await real_recover(channel, since)

            bp.recover = recover
            assert redis_server.command("CLIENT", "KILL", "TYPE", "pubsub").startswith(b":1")
            for i in range(1, 4):  # missed while the subscription is down
                third_party_publish(redis_server, "a", f"a{i}")
                third_party_publish(redis_server, "b", f"b{i}")
            await wait_for(lambda: bp.resyncs >= 1)
            got = [await recv(ws) for _ in range(7)]
            by = {c: [(m["type"], m.get("seq"), m.get("data")) for m in got
                      if m["channel"] == c] for c in "ab"}
            assert by["a"] == [("message", i, f"a{i}") for i in range(1, 4)]
            assert by["b"] == [("message", i, f"b{i}") for i in range(1, 5)]
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)


async def test_a_failed_resync_is_retried_not_left_recovering(redis_server, caplog):
    caplog.set_level(logging.INFO, logger="wskit")
    async with instances(redis_server, n=1) as (servers, urls):
        server = servers[0]
        bp = server._hub.backplane
        async with websockets.connect(urls[0] + "/channels") as ws:
            await subscribe(ws, "r")
            assert redis_server.command("CLIENT", "KILL", "TYPE", "pubsub").startswith(b":1")
            for i in range(1, 3):
                third_party_publish(redis_server, "r", f"m{i}")
            # the history is now not a stream: the fetch gets an error reply
            hist = _core.backplane_key("wskit:", "hist", "r")
            assert redis_server.command("SET", hist, "broken").startswith(b"+OK")
            await wait_for(lambda: "resync failed" in caplog.text, timeout=20)
            assert "recovering 'r' failed" in caplog.text  # the retries are logged
            assert bp.resyncs == 0
            assert redis_server.command("DEL", hist).startswith(b":1")
            await wait_for(lambda: bp.resyncs >= 1, timeout=20)
            await server.apublish("r", "after")
            gap = await recv(ws)  # the history is gone: said so
            assert (gap["type"], gap["from"], gap["to"]) == ("gap", 1, 2)
            m = await recv(ws)
            assert (m["type"], m["seq"], m["data"]) == ("message", 3, "after")


async def test_a_bad_history_entry_is_skipped_as_a_gap(redis_server):
    async with instances(redis_server, n=1) as (servers, urls):
        server = servers[0]
        async with websockets.connect(urls[0] + "/channels") as ws:
            epoch = (await subscribe(ws, "h"))["epoch"]
        await server.apublish("h", "one")
        # entry 2 is not an envelope (written by something else)
        meta, hist = (_core.backplane_key("wskit:", k, "h") for k in ("meta", "hist"))
        assert redis_server.command("HINCRBY", meta, "seq", 1).startswith(b":2")
        assert redis_server.command("XADD", hist, "2-1", "e", "garbage",
                                    "t", "99999999999999").startswith(b"$")
        await server.apublish("h", "three")
        async with websockets.connect(urls[0] + "/channels") as ws:
            sub = await subscribe(ws, "h", since=0, epoch=epoch)
            assert sub["seq"] == 3
            got = [await recv(ws) for _ in range(3)]
            assert [(m["type"], m.get("seq"), m.get("data")) for m in got[::2]] == \
                [("message", 1, "one"), ("message", 3, "three")]
            assert (got[1]["type"], got[1]["from"], got[1]["to"]) == ("gap", 2, 2)


def test_recovered_binding_skips_bad_envelopes():
    out = []
    hub = _core.Hub(lambda *a: out.append(a), external=True)
    sub = object()
    assert hub.subscribe(sub, "c", since=0, epoch="e1", json=False) == 0
    env = [_core.envelope_build("o", "c", i, "e1", "t", b"m%d" % i) for i in (1, 3)]
    assert hub.recovered(sub, "c", "e1", 3, [env[0], b"not an envelope", env[1]]) is True
    kinds = [(a[1], a[4]) for a in out]
    assert kinds[0][0] == 2  # subscribed
    assert [(k, s) for k, s in kinds[1:] if k == 1] == [(1, 1), (1, 3)]
    gaps = [(a[8], a[9]) for a in out if a[1] == 3]
    assert gaps == [(2, 2)]


async def test_the_publish_queue_is_bounded(redis_server):
    async with instances(redis_server, n=1) as (servers, urls):
        server = servers[0]
        bp = server._hub.backplane
        assert bp.max_queue == 10000
        # the writer cannot run during this loop: the queue only grows
        for i in range(bp.max_queue):
            server.publish("q", "x")
        with pytest.raises(wskit.BackplaneUnavailable) as info:
            server.publish("q", "one too many")
        assert info.value.code == "unavailable"
        with pytest.raises(wskit.BackplaneUnavailable):
            await server.apublish("q", "one too many")
        await wait_for(lambda: not bp._queue)  # drained: publishing works again
        assert await server.apublish("q", "later") == bp.max_queue + 1

        # the byte budget: a few big payloads fill it before the count does
        big = "y" * (1 << 20)
        n = bp.max_queue_bytes // len(big)
        for _ in range(n):
            server.publish("q", big)
        with pytest.raises(wskit.BackplaneUnavailable):
            server.publish("q", big)
        await wait_for(lambda: not bp._queue)

        # a channel client over the limit gets the error reply "unavailable"
        # (a limit of 0: nothing drains it between the send and the check)
        bp.max_queue = 0
        async with websockets.connect(urls[0] + "/channels") as ws:
            await ws.send(json.dumps({"type": "publish", "channel": "q", "data": "c",
                                      "id": 7}))
            err = await recv(ws)
            assert (err["type"], err["code"], err["id"]) == ("error", "unavailable", 7)
