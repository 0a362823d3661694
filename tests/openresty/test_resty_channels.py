"""resty.wskit.channels in one nginx worker (the in-worker hub): the JSON
channel protocol of docs/protocol.md spoken by python3-websockets, which
knows nothing of wskit. Subscribe, publish (from clients and from a
content handler), resume with since/epoch, gaps, errors, limits."""
import asyncio
import base64
import json

import websockets

from or_util import run
from or_raw import Raw


async def chan(ws, msg):
    await ws.send(json.dumps(msg))


async def reply(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def subscribe(ws, channel, **kw):
    await chan(ws, dict(type="subscribe", channel=channel, **kw))
    return await reply(ws)


def test_subscribe_publish_and_ack(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/channels")) as a, \
                websockets.connect(local_hub.url("/channels")) as b:
            sa = await subscribe(a, "room1", id=7)
            assert sa["type"] == "subscribed" and sa["id"] == 7 and sa["seq"] == 0
            assert sa["recovered"] is False and sa["epoch"]
            await subscribe(b, "room1")
            await chan(b, {"type": "publish", "channel": "room1", "data": "héllo", "id": "p1"})
            # b gets the message and its ack (one writer: in queue order)
            got = [await reply(b), await reply(b)]
            types = sorted(m["type"] for m in got)
            assert types == ["message", "published"]
            ack = [m for m in got if m["type"] == "published"][0]
            assert ack == {"type": "published", "channel": "room1", "seq": 1, "id": "p1"}
            m = await reply(a)
            assert m == {"type": "message", "channel": "room1", "seq": 1,
                         "epoch": sa["epoch"], "data": "héllo"}
            # JSON and binary payloads keep their kind
            await chan(b, {"type": "publish", "channel": "room1", "data": {"k": [1, 2]}})
            m = await reply(a)
            assert m["seq"] == 2 and m["data"] == {"k": [1, 2]} and "binary" not in m
            raw = base64.b64encode(b"\x00\xff").decode()
            await chan(b, {"type": "publish", "channel": "room1", "data": raw, "binary": True})
            m = await reply(a)
            assert m["seq"] == 3 and m["binary"] is True
            assert base64.b64decode(m["data"]) == b"\x00\xff"
    run(go())


def test_publish_from_content_handler_reaches_subscribers(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/channels")) as a:
            await subscribe(a, "handler")
            status, res = local_hub.publish("handler", "from nginx")
            assert status == 200 and res["seq"] == 1
            m = await reply(a)
            assert m["data"] == "from nginx" and m["seq"] == 1 and m["epoch"] == res["epoch"]
            status, res = local_hub.publish("handler", '{"a":1}', kind="json")
            assert (await reply(a))["data"] == {"a": 1}
            status, res = local_hub.publish("handler", "not json", kind="json")
            assert status == 400
            status, res = local_hub.publish("handler", b"\xff\xfe")  # text must be UTF-8
            assert status == 400
    run(go())


def test_resume_with_since_gets_missed_messages_once(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/channels")) as a:
            s = await subscribe(a, "resume1")
            for i in range(1, 4):
                local_hub.publish("resume1", "m%d" % i)
                assert (await reply(a))["seq"] == i
        # offline: 4 and 5 are published
        local_hub.publish("resume1", "m4")
        local_hub.publish("resume1", "m5")
        async with websockets.connect(local_hub.url("/channels")) as a:
            s2 = await subscribe(a, "resume1", since=3, epoch=s["epoch"])
            assert s2["recovered"] is True and s2["seq"] == 5 and s2["epoch"] == s["epoch"]
            got = [await reply(a) for _ in range(2)]
            assert [(m["seq"], m["data"]) for m in got] == [(4, "m4"), (5, "m5")]
            local_hub.publish("resume1", "m6")
            m = await reply(a)
            assert m["seq"] == 6  # live after the history, nothing twice
            await chan(a, {"type": "unsubscribe", "channel": "resume1", "id": 1})
            assert await reply(a) == {"type": "unsubscribed", "channel": "resume1", "id": 1}
    run(go())


def test_gap_when_history_is_shorter_than_the_absence(local_hub):
    # history_size = 20 in nginx_hub.conf.in
    async def go():
        async with websockets.connect(local_hub.url("/channels")) as a:
            s = await subscribe(a, "gap1")
        for i in range(30):
            local_hub.publish("gap1", "g%d" % (i + 1))
        async with websockets.connect(local_hub.url("/channels")) as a:
            s2 = await subscribe(a, "gap1", since=0, epoch=s["epoch"])
            assert s2["recovered"] is False
            gap = await reply(a)
            assert gap["type"] == "gap" and gap["reason"] == "expired"
            assert gap["from"] == 1 and gap["to"] == 10
            seqs = [(await reply(a))["seq"] for _ in range(20)]
            assert seqs == list(range(11, 31))
            # an unknown epoch: a gap naming the reset, then the history
            s3 = await subscribe(a, "gap1", since=5, epoch="otherepoch")
            assert s3["type"] == "subscribed"
            gap = await reply(a)
            assert gap["type"] == "gap" and gap["reason"] == "epoch"
    run(go())


def test_protocol_errors(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/channels")) as a:
            await a.send("not json")
            e = await reply(a)
            assert e["type"] == "error" and e["code"] == "bad_request"
            await chan(a, {"type": "subscribe"})
            assert (await reply(a))["code"] == "bad_request"
            await chan(a, {"type": "message", "channel": "x", "seq": 1, "epoch": "e", "data": 1})
            assert (await reply(a))["code"] == "bad_request"
            await a.send(b"\x01binary")
            assert (await reply(a))["code"] == "bad_request"
            await chan(a, {"type": "unsubscribe", "channel": "never", "id": 3})
            e = await reply(a)
            assert e["code"] == "not_subscribed" and e["id"] == 3 and e["channel"] == "never"
            # max_subscriptions = 5: the sixth channel is refused
            for i in range(5):
                assert (await subscribe(a, "many%d" % i))["type"] == "subscribed"
            e = await subscribe(a, "many5", id=9)
            assert e["type"] == "error" and e["code"] == "too_many_channels" and e["id"] == 9
            # the connection is still fine
            await chan(a, {"type": "publish", "channel": "many0", "data": "still"})
            got = [await reply(a), await reply(a)]
            assert {m["type"] for m in got} == {"message", "published"}
    run(go())


def test_client_publish_off_and_authorize_hook(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/channels?publish=0")) as a:
            await chan(a, {"type": "publish", "channel": "x", "data": 1, "id": 1})
            e = await reply(a)
            assert e["code"] == "forbidden" and e["id"] == 1
        async with websockets.connect(local_hub.url("/channels?authz=1")) as a:
            e = await subscribe(a, "secret-plans")
            assert e["type"] == "error" and e["code"] == "forbidden"
            assert (await subscribe(a, "ro-news"))["type"] == "subscribed"
            await chan(a, {"type": "publish", "channel": "ro-news", "data": 1})
            assert (await reply(a))["code"] == "forbidden"
            await chan(a, {"type": "publish", "channel": "open", "data": 1})
            assert (await reply(a))["type"] == "published"
    run(go())


def test_slow_subscriber_is_closed_1013_when_its_queue_is_full(local_hub):
    # queue=4: a client that stops reading while 40 x 256 KiB are published
    r = Raw(local_hub.port, timeout=20)
    status, _ = r.request("/channels?queue=4")
    assert status == 101
    r.send_frame(1, json.dumps({"type": "subscribe", "channel": "flood"}).encode())
    fin, op, payload = r.recv_frame()
    assert json.loads(payload)["type"] == "subscribed"
    big = "x" * 262144
    for _ in range(40):
        status, _ = local_hub.publish("flood", big)
        assert status == 200
    messages, code = 0, None
    for _ in range(100):
        fin, op, payload = r.recv_frame()
        if op == 8:
            code = int.from_bytes(payload[:2], "big")
            break
        messages += 1
    r.close()
    assert code == 1013
    assert messages < 40


def test_client_that_sends_requests_but_never_reads_is_closed_1013(local_hub):
    # queue=4: replies count against send_queue too. 2000 requests whose
    # replies echo a 16 KiB id (32 MiB, more than the socket buffers hold)
    # while the client does not read; then it reads: far fewer replies
    # than requests, then close 1013
    r = Raw(local_hub.port, timeout=20)
    status, _ = r.request("/channels?queue=4")
    assert status == 101
    n = 2000
    req = json.dumps({"type": "unsubscribe", "channel": "never", "id": "i" * 16384}).encode()
    for _ in range(n):
        r.send_frame(1, req)
    replies, code = 0, None
    for _ in range(n + 10):
        fin, op, payload = r.recv_frame()
        if op == 8:
            code = int.from_bytes(payload[:2], "big")
            break
        if op in (9, 10):
            continue  # keepalive pings
        assert json.loads(payload)["code"] == "not_subscribed"
        replies += 1
    r.close()
    assert code == 1013
    assert replies < n
    assert "client too slow" in local_hub.log()


def test_raw_subscriber_gets_payloads_as_frames(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/app/raw?channel=rawch")) as a:
            assert await a.recv() == "subscribed"
            local_hub.publish("rawch", "plain text")
            assert await asyncio.wait_for(a.recv(), 5) == "plain text"
            local_hub.publish("rawch", b"\x00\x01", kind="binary")
            assert await asyncio.wait_for(a.recv(), 5) == b"\x00\x01"
            await a.send("ping?")
            assert await asyncio.wait_for(a.recv(), 5) == "echo:ping?"
    run(go())


def test_handshake_auth_and_authorize_see_the_user(local_hub):
    async def go():
        try:
            async with websockets.connect(local_hub.url("/channels?auth=1&authz=1")):
                raise AssertionError("accepted without a token")
        except websockets.exceptions.InvalidStatusCode as e:
            assert e.status_code == 401
        url = local_hub.url("/channels?auth=1&authz=1&token=s3cret")
        async with websockets.connect(url) as a:
            assert (await subscribe(a, "secret-frank"))["type"] == "subscribed"
    run(go())
