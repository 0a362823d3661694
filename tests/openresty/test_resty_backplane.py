"""resty.wskit hubs sharing a real redis-server (started by the test):
two nginx instances, one of them with two workers, so three hubs; each
worker PSUBSCRIBEs and EVALs the core's scripts with lua-resty-redis.
Clients are python3-websockets speaking the JSON channel protocol."""
import asyncio
import json
import time

import websockets

from or_hub import wait_for
from or_util import run


async def send(ws, msg):
    await ws.send(json.dumps(msg))


async def reply(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def take(ws, n, quiet=0.2):
    """Exactly n messages, and nothing more within `quiet` seconds."""
    got = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(n)]
    return got + await drain(ws, quiet)


async def drain(ws, quiet=0.5):
    """Every message until `quiet` seconds pass without one."""
    got = []
    try:
        while True:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), quiet)))
    except asyncio.TimeoutError:
        return got


def backplane_up(n):
    return lambda: json.loads(n.http("/state")[1])["backplane"] == "up"


def test_publish_reaches_every_instance_and_worker_exactly_once(redis_server, hub_nginx):
    a = hub_nginx(redis_server.url, workers=2)
    b = hub_nginx(redis_server.url)
    assert wait_for(backplane_up(a)) and wait_for(backplane_up(b))

    async def go():
        # 12 subscribers on a (spread over its 2 workers by reuseport) and 3 on b
        clients = []
        for n, count in ((a, 12), (b, 3)):
            for _ in range(count):
                ws = await websockets.connect(n.url("/channels"))
                await send(ws, {"type": "subscribe", "channel": "fan"})
                assert (await reply(ws))["type"] == "subscribed"
                clients.append(ws)
        pub = await websockets.connect(b.url("/channels"))
        for i in range(10):
            await send(pub, {"type": "publish", "channel": "fan", "data": "m%d" % i})
        for i in range(5):
            status, res = a.publish("fan", "h%d" % i)  # from a content handler
            assert status == 200
        got = await take(pub, 10)
        assert [m["type"] for m in got] == ["published"] * 10
        epochs, orders = set(), set()
        for ws in clients:
            msgs = await take(ws, 15)
            # each message once, numbered 1..15, in one order for everyone
            assert [m["seq"] for m in msgs] == list(range(1, 16)), msgs
            data = [m["data"] for m in msgs]
            assert sorted(data) == sorted(["m%d" % i for i in range(10)] +
                                          ["h%d" % i for i in range(5)])
            assert [d for d in data if d[0] == "m"] == ["m%d" % i for i in range(10)]
            orders.add(tuple(data))
            epochs |= {m["epoch"] for m in msgs}
            await ws.close()
        assert len(epochs) == 1 and len(orders) == 1
        await pub.close()
    run(go(), 30)
    # both of a's workers served subscribers (reuseport spreads 12 clients:
    # all on one worker has probability 2^-11)
    pids = {l.split("served by worker ")[1].split(",")[0] for l in a.log().splitlines()
            if "served by worker " in l}
    assert len(pids) == 2


def test_resume_on_the_other_instance_from_the_redis_stream(redis_server, hub_nginx):
    a = hub_nginx(redis_server.url)
    b = hub_nginx(redis_server.url)
    assert wait_for(backplane_up(a)) and wait_for(backplane_up(b))

    async def go():
        async with websockets.connect(a.url("/channels")) as ws:
            await send(ws, {"type": "subscribe", "channel": "res"})
            s = await reply(ws)
            for i in range(1, 4):
                a.publish("res", "r%d" % i)
                m = await reply(ws)
                assert m["seq"] == i
        for i in range(4, 9):
            b.publish("res", "r%d" % i)  # while the client is away
        async with websockets.connect(b.url("/channels")) as ws:
            await send(ws, {"type": "subscribe", "channel": "res", "since": 3,
                            "epoch": s["epoch"], "id": 1})
            s2 = await reply(ws)
            assert s2["type"] == "subscribed" and s2["recovered"] is True and s2["seq"] == 8
            msgs = await drain(ws)
            assert [(m["seq"], m["data"]) for m in msgs] == [(i, "r%d" % i) for i in range(4, 9)]
            a.publish("res", "r9")
            assert (await reply(ws))["seq"] == 9
    run(go(), 30)


def test_gap_from_the_stream_when_too_much_was_missed(redis_server, hub_nginx):
    a = hub_nginx(redis_server.url)
    assert wait_for(backplane_up(a))

    async def go():
        for i in range(30):  # history_size 20
            a.publish("gapr", "g%d" % (i + 1))
        async with websockets.connect(a.url("/channels")) as ws:
            await send(ws, {"type": "subscribe", "channel": "gapr"})
            s = await reply(ws)
            assert s["seq"] == 30
            await send(ws, {"type": "subscribe", "channel": "gapr", "since": 2,
                            "epoch": s["epoch"]})
            msgs = await drain(ws)
            assert msgs[0]["type"] == "subscribed"
            gap = msgs[1]
            assert gap["type"] == "gap" and gap["reason"] == "expired"
            assert gap["from"] == 3 and gap["to"] == 10
            assert [m["seq"] for m in msgs[2:]] == list(range(11, 31))
    run(go(), 30)


def test_redis_restart_unavailable_then_resubscribed(redis_server, hub_nginx):
    a = hub_nginx(redis_server.url)
    b = hub_nginx(redis_server.url)
    assert wait_for(backplane_up(a)) and wait_for(backplane_up(b))

    async def go():
        sub = await websockets.connect(a.url("/channels"))
        await send(sub, {"type": "subscribe", "channel": "rs"})
        await reply(sub)
        b.publish("rs", "before")
        assert (await reply(sub))["data"] == "before"

        redis_server.stop()
        assert wait_for(lambda: "backplane: lost redis" in a.log())
        # publishing fails clearly; the local connection stays up
        status, res = b.publish("rs", "lost")
        assert status == 503 and res["error"].startswith("unavailable")
        await send(sub, {"type": "publish", "channel": "rs", "data": "x", "id": 5})
        e = await reply(sub)
        assert e["type"] == "error" and e["code"] == "unavailable" and e["id"] == 5
        await send(sub, {"type": "subscribe", "channel": "other", "id": 6})
        e = await reply(sub)
        assert e["code"] == "unavailable" and e["id"] == 6

        redis_server.start()  # same port, empty: the channel starts a new epoch
        assert wait_for(lambda: "backplane: resubscribed" in a.log(), 15)
        assert wait_for(lambda: "backplane: resubscribed" in b.log(), 15)
        status, res = b.publish("rs", "after")
        assert status == 200
        msgs = await drain(sub, 2)
        data = [m for m in msgs if m["type"] == "message"]
        assert [m["data"] for m in data] == ["after"]
        # a new epoch is announced as a gap, never silently
        assert all(m["type"] in ("message", "gap") for m in msgs)
        assert all(m["reason"] == "epoch" for m in msgs if m["type"] == "gap")
        await sub.close()
    run(go(), 40)
    assert "backplane: lost redis" in b.log()


def test_messages_published_while_a_worker_was_cut_off_are_resynced(redis_server, hub_nginx):
    # a's subscriber connection is killed by Redis (CLIENT KILL TYPE pubsub):
    # messages published meanwhile come back from the stream, in order, once
    import redis as redis_py
    a = hub_nginx(redis_server.url)
    b = hub_nginx(redis_server.url)
    assert wait_for(backplane_up(a)) and wait_for(backplane_up(b))
    r = redis_py.Redis(port=redis_server.port)

    async def go():
        sub = await websockets.connect(a.url("/channels"))
        await send(sub, {"type": "subscribe", "channel": "cut"})
        await reply(sub)
        b.publish("cut", "c1")
        assert (await reply(sub))["seq"] == 1
        # kill the pub/sub connections, then publish before they come back
        r.client_kill_filter(_type="pubsub")
        for i in range(2, 6):
            b.publish("cut", "c%d" % i)
        assert wait_for(lambda: a.log().count("backplane: resubscribed") >= 1, 15)
        msgs = await drain(sub, 2)
        assert [(m["seq"], m["data"]) for m in msgs if m["type"] == "message"] == \
            [(i, "c%d" % i) for i in range(2, 6)]
        await sub.close()
    run(go(), 30)
    r.close()
