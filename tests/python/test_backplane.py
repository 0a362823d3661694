"""The Redis backplane against a real redis-server: two wskit servers in
one process share channels through it, resume from the Redis stream on
the other instance, and live through Redis going away and coming back."""

import asyncio
import contextlib
import json
import logging

import pytest
import websockets

import wskit
from wskit import _core

from helpers import port_of
from redis_server import redis_server  # noqa: F401  (fixture)


@contextlib.asynccontextmanager
async def instances(redis, n=2, **kwargs):
    async def app(ws):  # application connections: join a channel raw, or echo
        async for message in ws:
            if message.startswith("join:"):
                ws.subscribe(message[5:])
                await ws.send("joined")
            else:
                await ws.send(message)

    kwargs.setdefault("channels_path", "/channels")
    servers = []
    try:
        for _ in range(n):
            servers.append(await wskit.serve(app, "127.0.0.1", 0, backplane=redis.url,
                                             **kwargs))
        yield servers, [f"ws://127.0.0.1:{port_of(s)}" for s in servers]
    finally:
        for s in servers:
            s.close()
        for s in servers:
            await s.wait_closed()


async def recv(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def subscribe(ws, channel, **extra):
    await ws.send(json.dumps(dict(type="subscribe", channel=channel, **extra)))
    reply = await recv(ws)
    assert reply["type"] == "subscribed", reply
    return reply


async def wait_for(cond, timeout=10):
    for _ in range(int(timeout / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def test_publish_reaches_every_instance_once_in_order(redis_server):
    async with instances(redis_server) as (servers, urls):
        a, b = servers
        clients = [await websockets.connect(u + "/channels") for u in urls for _ in range(2)]
        raw = [await wskit.connect(u + "/") for u in urls]
        try:
            for ws in clients:
                await subscribe(ws, "news")
            for ws in raw:
                await ws.send("join:news")
                assert await ws.recv() == "joined"
            for i in range(50):  # alternate the publishing instance
                await (a if i % 2 == 0 else b).apublish("news", f"m{i}")
            for ws in clients:
                got = [await recv(ws) for _ in range(50)]
                assert [m["seq"] for m in got] == list(range(1, 51))
                assert [m["data"] for m in got] == [f"m{i}" for i in range(50)]
                assert len({m["epoch"] for m in got}) == 1
            for ws in raw:
                assert [await ws.recv() for _ in range(50)] == [f"m{i}" for i in range(50)]
            # the fire-and-forget form keeps call order too
            for i in range(20):
                b.publish("news", {"i": i})
            for ws in clients:
                assert [(await recv(ws))["data"]["i"] for _ in range(20)] == list(range(20))
            # a client publishes through instance b: acked with Redis's seq
            await clients[2].send(json.dumps({"type": "publish", "channel": "news",
                                              "data": "via b", "id": 9}))
            replies = [await recv(clients[2]), await recv(clients[2])]
            assert {"type": "published", "channel": "news", "seq": 71, "id": 9} in replies
            assert (await recv(clients[0]))["data"] == "via b"
        finally:
            for ws in clients:
                await ws.close()
            for ws in raw:
                await ws.close()


async def test_resume_from_the_stream_on_the_other_instance(redis_server):
    async with instances(redis_server) as (servers, urls):
        a, b = servers
        async with websockets.connect(urls[0] + "/channels") as ws:
            epoch = (await subscribe(ws, "feed"))["epoch"]
            for i in range(1, 4):
                await a.apublish("feed", f"m{i}")
            assert [(await recv(ws))["seq"] for _ in range(3)] == [1, 2, 3]
        for i in range(4, 7):
            await a.apublish("feed", f"m{i}")
        async with websockets.connect(urls[1] + "/channels") as ws:  # the other instance
            sub = await subscribe(ws, "feed", since=3, epoch=epoch)
            assert sub["recovered"] is True and sub["seq"] == 6 and sub["epoch"] == epoch
            got = [await recv(ws) for _ in range(3)]
            assert [(m["seq"], m["data"]) for m in got] == [(4, "m4"), (5, "m5"), (6, "m6")]
            await a.apublish("feed", "m7")
            assert (await recv(ws))["seq"] == 7
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)  # nothing twice


async def test_history_size_and_gap_through_redis(redis_server):
    async with instances(redis_server, history_size=3) as (servers, urls):
        a, b = servers
        for i in range(1, 11):
            await a.apublish("c", str(i))
        async with websockets.connect(urls[1] + "/channels") as ws:
            epoch = (await subscribe(ws, "probe"))["epoch"]
            probe = await subscribe(ws, "c")
            assert probe["seq"] == 10
            epoch = probe["epoch"]
        async with websockets.connect(urls[1] + "/channels") as ws:
            await subscribe(ws, "c", since=2, epoch=epoch)
            gap = await recv(ws)
            assert (gap["type"], gap["from"], gap["to"], gap["reason"]) == \
                ("gap", 3, 7, "expired")
            assert [(await recv(ws))["seq"] for _ in range(3)] == [8, 9, 10]
        # the stream in Redis is trimmed to the size
        assert redis_server.command("XLEN", "wskit:hist:c").startswith(b":3")


async def test_lost_pubsub_connections_resync_exactly_once(redis_server, caplog):
    caplog.set_level(logging.INFO, logger="wskit")
    async with instances(redis_server) as (servers, urls):
        a, b = servers
        ws = await websockets.connect(urls[0] + "/channels")
        try:
            await subscribe(ws, "r")
            for i in range(1, 4):
                await b.apublish("r", i)
            assert [(await recv(ws))["data"] for _ in range(3)] == [1, 2, 3]
            assert redis_server.command("CLIENT", "KILL", "TYPE", "pubsub").startswith(b":2")
            for i in range(4, 9):  # while the subscriptions are down: a third publisher
                keys = [_core.backplane_key("wskit:", k, "r") for k in ("meta", "hist", "msg")]
                reply = redis_server.command("EVAL", _core.REDIS_PUBLISH_SCRIPT, 2, *keys, "j",
                                             "test-origin", "r", str(i), 100, 300000)
                assert reply.startswith(b"*2\r\n:%d" % i)
            await wait_for(lambda: a._hub.backplane.resyncs >= 1 and b._hub.backplane.resyncs >= 1)
            await b.apublish("r", 9)
            got = [await recv(ws) for _ in range(6)]
            assert [(m["seq"], m["data"]) for m in got] == [(i, i) for i in range(4, 10)]
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)
        finally:
            await ws.close()
    text = caplog.text
    assert "backplane: lost redis" in text and "backplane: resubscribed" in text


async def test_redis_killed_and_restarted(redis_server, caplog):
    caplog.set_level(logging.INFO, logger="wskit")
    async with instances(redis_server) as (servers, urls):
        a, b = servers
        sub_a = await websockets.connect(urls[0] + "/channels")
        sub_b = await websockets.connect(urls[1] + "/channels")
        app = await wskit.connect(urls[0] + "/")
        try:
            await subscribe(sub_a, "k")
            await subscribe(sub_b, "k")
            await a.apublish("k", "before")
            assert (await recv(sub_a))["data"] == "before"
            assert (await recv(sub_b))["data"] == "before"

            redis_server.kill()
            await wait_for(lambda: not a._hub.backplane.up and not b._hub.backplane.up)
            assert "backplane: lost redis" in caplog.text
            # local clients keep working
            await app.send("still here")
            assert await asyncio.wait_for(app.recv(), 5) == "still here"
            # publishes fail clearly
            with pytest.raises(wskit.BackplaneUnavailable) as info:
                a.publish("k", "lost")
            assert info.value.code == "unavailable"
            with pytest.raises(wskit.BackplaneUnavailable):
                await b.apublish("k", "lost")
            await sub_a.send(json.dumps({"type": "publish", "channel": "k", "data": "x",
                                         "id": 1}))
            err = await recv(sub_a)
            assert (err["type"], err["code"], err["id"]) == ("error", "unavailable", 1)
            async with websockets.connect(urls[1] + "/channels") as late:
                await late.send(json.dumps({"type": "subscribe", "channel": "k"}))
                assert (await recv(late))["code"] == "unavailable"

            redis_server.start()
            await wait_for(lambda: a._hub.backplane.up and b._hub.backplane.up and
                           a._hub.backplane.resyncs >= 1 and b._hub.backplane.resyncs >= 1)
            assert "backplane: resubscribed" in caplog.text
            await b.apublish("k", "after")
            for ws in (sub_a, sub_b):
                # Redis came back empty: a new epoch, announced, then the message
                while True:
                    m = await recv(ws)
                    if m["type"] == "gap":
                        assert m["reason"] == "epoch"
                        continue
                    assert (m["type"], m["data"], m["seq"]) == ("message", "after", 1)
                    break
        finally:
            for ws in (sub_a, sub_b):
                await ws.close()
            await app.close()


def test_envelope_and_keys_bindings():
    env = _core.envelope_build("origin1", "room", 7, "ep1", "t", b"hi")
    assert _core.envelope_parse(env) == ("origin1", "room", 7, "ep1", "t", b"hi")
    with pytest.raises(ValueError):
        _core.envelope_parse(b"WSK1 x")
    assert _core.backplane_key("p:", "hist", "room") == "p:hist:room"
    assert _core.backplane_channel_of("p:", "p:msg:room") == "room"
    assert _core.backplane_channel_of("p:", "q:msg:room") is None


async def test_sse_streams_on_two_instances(redis_server):
    from test_sse_server import HEAD, Stream
    async with instances(redis_server, sse_path="/events") as (servers, urls):
        a, b = servers
        port_b = port_of(b)
        s = await Stream.open(port_b, "/events?channel=live")
        await s.expect(HEAD + b"retry: 2000\n\n")
        await wait_for(lambda: b._hub.core.count("live") == 1)
        seq = await a.apublish("live", "one")
        s1 = (await s.read_until(b"\n\n")).decode()
        epoch = s1.split("\n")[0][len("id: "):].split(":")[0]
        assert s1 == f"id: {epoch}:{seq}\ndata: one\n\n"
        s.close()
        await a.apublish("live", "two")
        await a.apublish("live", "three")
        # resume on the other instance, from the Redis stream
        s = await Stream.open(port_of(a), "/events?channel=live",
                              [("Last-Event-ID", f"{epoch}:1")])
        await s.expect(HEAD + b"retry: 2000\n\n" +
                       f"id: {epoch}:2\ndata: two\n\nid: {epoch}:3\ndata: three\n\n".encode())
        s.close()


async def test_resume_while_messages_keep_coming_is_exactly_once(redis_server):
    async with instances(redis_server) as (servers, urls):
        a, b = servers
        for i in range(1, 21):
            await a.apublish("busy", i)
        epoch = (await b._hub.backplane.recover("busy", -1))[0]

        async def publisher():
            for i in range(21, 301):
                await a.apublish("busy", i)
                if i % 10 == 0:
                    await asyncio.sleep(0)

        task = asyncio.ensure_future(publisher())
        await asyncio.sleep(0.01)  # the history is being read while live ones arrive
        async with websockets.connect(urls[1] + "/channels") as ws:
            await subscribe(ws, "busy", since=5, epoch=epoch)
            await task
            got = [(await recv(ws))["seq"] for _ in range(295)]
            assert got == list(range(6, 301))
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)


async def test_a_server_started_while_redis_is_down_connects_later(redis_server, caplog):
    caplog.set_level(logging.INFO, logger="wskit")
    redis_server.kill()
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with instances(redis_server, n=1) as (servers, urls):
        (a,) = servers
        assert loop.time() - start < 3  # it did not wait for Redis
        assert "not reachable yet" in caplog.text
        with pytest.raises(wskit.BackplaneUnavailable):
            a.publish("later", "x")
        async with websockets.connect(urls[0] + "/") as app:  # local clients are served
            await app.send("echo")
            assert await asyncio.wait_for(app.recv(), 5) == "echo"
        redis_server.start()
        await wait_for(lambda: a._hub.backplane.up)
        async with websockets.connect(urls[0] + "/channels") as ws:
            await subscribe(ws, "later")
            assert await a.apublish("later", "x") == 1
            assert (await recv(ws))["data"] == "x"


async def test_prefixes_separate_deployments(redis_server):
    async with instances(redis_server, n=1, backplane_prefix="one:") as ((a,), (url_a,)), \
            instances(redis_server, n=1, backplane_prefix="two:") as ((b,), (url_b,)):
        async with websockets.connect(url_a + "/channels") as wa, \
                websockets.connect(url_b + "/channels") as wb:
            await subscribe(wa, "same")
            await subscribe(wb, "same")
            assert await a.apublish("same", "for one") == 1
            assert await b.apublish("same", "for two") == 1
            assert (await recv(wa))["data"] == "for one"
            assert (await recv(wb))["data"] == "for two"
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(wa.recv(), 0.3)
        assert redis_server.command("EXISTS", "one:hist:same", "two:hist:same").startswith(b":2")
