"""The JSON channel protocol served by the server on channels_path
(docs/protocol.md), against python3-websockets clients and wskit clients:
subscribe, resume with since/epoch, gaps, exactly once, publish
permission, errors, and every limit crossed."""

import asyncio
import base64
import contextlib
import json

import pytest
import websockets

import wskit
from wskit import _core

from helpers import port_of


@contextlib.asynccontextmanager
async def channel_server(handler=None, **kwargs):
    kwargs.setdefault("channels_path", "/channels")
    async with wskit.serve(handler, "127.0.0.1", 0, **kwargs) as server:
        yield server, f"ws://127.0.0.1:{port_of(server)}/channels"


async def send(ws, **msg):
    await ws.send(json.dumps(msg))


async def recv(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def subscribe(ws, channel, **extra):
    await send(ws, type="subscribe", channel=channel, **extra)
    reply = await recv(ws)
    assert reply["type"] == "subscribed", reply
    return reply


async def nothing_more(ws, wait=0.2):
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(ws.recv(), wait)


async def test_subscribe_and_receive_every_payload_kind():
    async with channel_server() as (server, url):
        async with websockets.connect(url) as ws:
            sub = await subscribe(ws, "news", id=1)
            assert sub["id"] == 1 and sub["seq"] == 0 and sub["recovered"] is False
            epoch = sub["epoch"]
            assert server.publish("news", "hello") == []
            server.publish("news", b"\x00\xff")
            server.publish("news", {"n": [1, 2]})
            m1, m2, m3 = [await recv(ws) for _ in range(3)]
            assert m1 == {"type": "message", "channel": "news", "seq": 1, "epoch": epoch,
                          "data": "hello"}
            assert m2["seq"] == 2 and m2["binary"] is True
            assert base64.b64decode(m2["data"]) == b"\x00\xff"
            assert m3["seq"] == 3 and m3["data"] == {"n": [1, 2]}
            assert await server.apublish("news", "four") == 4
            assert (await recv(ws))["seq"] == 4


async def test_raw_json_and_wskit_subscribers_all_get_server_publish():
    async def app(ws):  # an application connection joins a channel raw
        ws.subscribe("room")
        await ws.send("joined")
        await ws.wait_closed()

    async with channel_server(app) as (server, url):
        base = url.rsplit("/", 1)[0] + "/"
        async with wskit.connect(base) as raw, wskit.connect(url) as wsk, \
                websockets.connect(url) as wsc:
            assert await raw.recv() == "joined"
            await wsk.send(json.dumps({"type": "subscribe", "channel": "room"}))
            assert json.loads(await wsk.recv())["type"] == "subscribed"
            await subscribe(wsc, "room")
            server.publish("room", "text")
            server.publish("room", b"bin")
            server.publish("room", [1])
            assert [await raw.recv() for _ in range(3)] == ["text", b"bin", "[1]"]
            for ws in (wsk, wsc):
                got = [json.loads(await ws.recv()) for _ in range(3)]
                assert [m["seq"] for m in got] == [1, 2, 3]
                assert got[0]["data"] == "text" and got[2]["data"] == [1]


async def test_client_publish_acknowledged_and_delivered():
    async with channel_server() as (server, url):
        async with websockets.connect(url) as a, websockets.connect(url) as b:
            await subscribe(a, "chat")
            await subscribe(b, "chat")
            await send(a, type="publish", channel="chat", data="hi", id="p1")
            replies = [await recv(a), await recv(a)]
            ack = next(r for r in replies if r["type"] == "published")
            assert ack == {"type": "published", "channel": "chat", "seq": 1, "id": "p1"}
            assert any(r["type"] == "message" and r["data"] == "hi" for r in replies)
            msg = await recv(b)
            assert msg["data"] == "hi" and msg["seq"] == 1
            await send(b, type="publish", channel="chat", data="AAE=", binary=True)
            assert (await recv(b))["type"] in ("published", "message")


async def test_resume_since_gets_what_was_missed_exactly_once():
    async with channel_server() as (server, url):
        async with websockets.connect(url) as ws:
            epoch = (await subscribe(ws, "feed"))["epoch"]
            for i in range(1, 4):
                server.publish("feed", f"m{i}")
            seen = [(await recv(ws))["seq"] for _ in range(3)]
        assert seen == [1, 2, 3]
        for i in range(4, 7):  # while it is away
            server.publish("feed", f"m{i}")
        async with websockets.connect(url) as ws:
            sub = await subscribe(ws, "feed", since=3, epoch=epoch)
            assert sub["recovered"] is True and sub["seq"] == 6
            got = [await recv(ws) for _ in range(3)]
            assert [(m["seq"], m["data"]) for m in got] == [(4, "m4"), (5, "m5"), (6, "m6")]
            server.publish("feed", "m7")
            assert (await recv(ws))["seq"] == 7
            await nothing_more(ws)  # no duplicate of anything


async def test_resume_over_history_size_gives_an_expired_gap():
    async with channel_server(history_size=3) as (server, url):
        for i in range(1, 11):
            server.publish("c", str(i))
        epoch = server._hub.core.position("c")[0]
        async with websockets.connect(url) as ws:
            sub = await subscribe(ws, "c", since=2, epoch=epoch)
            assert sub["recovered"] is False and sub["seq"] == 10
            gap = await recv(ws)
            assert gap == {"type": "gap", "channel": "c", "epoch": epoch, "from": 3, "to": 7,
                           "reason": "expired"}
            assert [(await recv(ws))["seq"] for _ in range(3)] == [8, 9, 10]
            await nothing_more(ws)


async def test_resume_over_history_ttl_gives_an_expired_gap():
    async with channel_server(history_ttl=0.2) as (server, url):
        for i in range(1, 4):
            server.publish("t", str(i))
        epoch = server._hub.core.position("t")[0]
        async with websockets.connect(url) as ws:  # inside the ttl: replayed
            await subscribe(ws, "t", since=1, epoch=epoch)
            assert [(await recv(ws))["seq"] for _ in range(2)] == [2, 3]
        await asyncio.sleep(0.4)
        async with websockets.connect(url) as ws:  # past it: a gap
            await subscribe(ws, "t", since=1, epoch=epoch)
            gap = await recv(ws)
            assert (gap["type"], gap["from"], gap["to"], gap["reason"]) == ("gap", 2, 3, "expired")


async def test_resume_in_another_epoch_gives_an_epoch_gap():
    async with channel_server() as (server, url):
        server.publish("e", "1")
        server.publish("e", "2")
        async with websockets.connect(url) as ws:
            sub = await subscribe(ws, "e", since=1, epoch="an-old-epoch")
            assert sub["recovered"] is False
            gap = await recv(ws)
            assert (gap["reason"], gap["from"], gap["to"]) == ("epoch", 1, 2)
            assert gap["epoch"] == sub["epoch"] != "an-old-epoch"
            server.publish("e", "3")
            assert (await recv(ws))["seq"] == 3


async def test_client_publish_can_be_turned_off():
    async with channel_server(client_publish=False) as (server, url):
        async with websockets.connect(url) as ws:
            await send(ws, type="publish", channel="x", data="no", id=5)
            err = await recv(ws)
            assert err["type"] == "error" and err["code"] == "forbidden"
            assert err["channel"] == "x" and err["id"] == 5
            assert server._hub.core.position("x") is None  # nothing was kept


async def test_authorize_hook_decides_subscribe_and_publish():
    calls = []

    def authorize(conn, action, channel):
        calls.append((action, channel))
        return not channel.startswith("secret")

    async with channel_server(authorize=authorize) as (server, url):
        async with websockets.connect(url) as ws:
            await send(ws, type="subscribe", channel="secret-1")
            assert (await recv(ws))["code"] == "forbidden"
            await send(ws, type="publish", channel="secret-2", data="x")
            assert (await recv(ws))["code"] == "forbidden"
            await subscribe(ws, "open")
            assert calls == [("subscribe", "secret-1"), ("publish", "secret-2"),
                             ("subscribe", "open")]
            assert server._hub.core.count("secret-1") == 0


async def test_max_subscriptions_crossed():
    async with channel_server(max_subscriptions=2) as (server, url):
        async with websockets.connect(url) as ws:
            await subscribe(ws, "a")
            await subscribe(ws, "b")
            await send(ws, type="subscribe", channel="c", id="x")
            err = await recv(ws)
            assert (err["code"], err["channel"], err["id"]) == ("too_many_channels", "c", "x")
            await send(ws, type="unsubscribe", channel="a")
            assert (await recv(ws))["type"] == "unsubscribed"
            await subscribe(ws, "c")  # room again


async def test_bad_requests_are_answered_and_the_connection_stays():
    async with channel_server() as (server, url):
        async with websockets.connect(url) as ws:
            for bad in ["{not json", "[1,2]", '{"type":"fly","channel":"x"}',
                        '{"type":"subscribe"}', '{"type":"subscribe","channel":""}',
                        '{"type":"subscribe","channel":"x","since":-1}',
                        '{"type":"message","channel":"x","seq":1,"epoch":"e","data":1}',
                        json.dumps({"type": "subscribe", "channel": "x" * 1025})]:
                await ws.send(bad)
                err = await recv(ws)
                assert err["type"] == "error" and err["code"] == "bad_request", (bad, err)
            await ws.send(b'{"type":"subscribe","channel":"x"}')  # binary: not the protocol
            assert (await recv(ws))["code"] == "bad_request"
            await send(ws, type="unsubscribe", channel="never")
            assert (await recv(ws))["code"] == "not_subscribed"
            await subscribe(ws, "x")  # still usable


async def test_unsubscribe_stops_messages_and_close_forgets():
    async with channel_server() as (server, url):
        async with websockets.connect(url) as ws:
            await subscribe(ws, "u")
            server.publish("u", "1")
            assert (await recv(ws))["seq"] == 1
            await send(ws, type="unsubscribe", channel="u", id=2)
            assert await recv(ws) == {"type": "unsubscribed", "channel": "u", "id": 2}
            server.publish("u", "2")
            await nothing_more(ws)
            await subscribe(ws, "u")
            assert server._hub.core.count("u") == 1
        for _ in range(100):  # the server side notices the close
            if server._hub.core.count("u") == 0:
                break
            await asyncio.sleep(0.01)
        assert server._hub.core.count("u") == 0 and server._hub.core.subscribers == 0


async def test_a_server_with_only_channels_answers_404_elsewhere():
    async with channel_server() as (server, url):
        with pytest.raises(wskit.InvalidStatus) as info:
            await wskit.connect(url.rsplit("/", 1)[0] + "/other")
        assert info.value.response.status == 404


async def test_many_messages_in_order_to_many_subscribers():
    async with channel_server() as (server, url):
        clients = [await websockets.connect(url) for _ in range(5)]
        try:
            for ws in clients:
                await subscribe(ws, "bulk")
            for i in range(500):
                server.publish("bulk", str(i))
            for ws in clients:
                seqs = [(await recv(ws))["seq"] for _ in range(500)]
                assert seqs == list(range(1, 501))
        finally:
            for ws in clients:
                await ws.close()


def test_chan_bindings_round_trip():
    text = _core.chan_build("subscribe", channel="a b", since=5, epoch="ep", id='"r"')
    f = _core.chan_parse(text)
    assert (f["type"], f["channel"], f["since"], f["epoch"], f["id"]) == \
        ("subscribe", "a b", 5, "ep", '"r"')
    f = _core.chan_parse(_core.chan_build("message", channel="c", seq=9, epoch="e",
                                          data=b"\x01\x02"))
    assert (f["kind"], f["payload"], f["seq"]) == ("b", b"\x01\x02", 9)
    f = _core.chan_parse(_core.chan_build("gap", channel="c", epoch="e", **{"from": 2, "to": 4},
                                          reason="expired"))
    assert (f["from"], f["to"], f["reason"]) == (2, 4, "expired")
    with pytest.raises(ValueError):
        _core.chan_parse('{"type":"subscribe","channel":"x","channel":"y"}')
    with pytest.raises(ValueError):
        _core.chan_build("message", channel="c", seq=1, epoch="e", kind="j", payload="{bad")


async def test_wskit_client_channel_api_against_the_server():
    async with channel_server() as (server, url):
        async with wskit.connect(url) as ws:
            await ws.subscribe("api")
            seq = await ws.publish("api", {"from": "wskit"})
            assert seq == 1
            server.publish("api", "from the server")
            first = await asyncio.wait_for(ws.recv(), 5)
            second = await asyncio.wait_for(ws.recv(), 5)
            assert (first.seq, first.data) == (1, {"from": "wskit"})
            assert (second.seq, second.data) == (2, "from the server")


async def test_message_rate_crossed_on_a_channel_connection():
    async with channel_server(message_rate=2, message_burst=2) as (server, url):
        async with websockets.connect(url) as ws:
            for i in range(5):
                await send(ws, type="subscribe", channel=f"r{i}")
            replies = [await recv(ws) for _ in range(5)]
            codes = [r.get("code") for r in replies if r["type"] == "error"]
            assert [r["type"] for r in replies].count("subscribed") == 2
            assert codes == ["rate_limited"] * 3


async def test_a_subscriber_too_far_behind_is_closed(monkeypatch):
    import wskit.hub
    monkeypatch.setattr(wskit.hub, "MAX_LAG", 200_000)
    async with channel_server(compression=None) as (server, url):
        slow = await wskit.connect(url, compression=None)
        await slow.send(json.dumps({"type": "subscribe", "channel": "flood"}))
        assert json.loads(await slow.recv())["type"] == "subscribed"
        slow._pause_reading()  # a reader that stopped reading
        (conn,) = [c for c in server.connections]
        payload = "x" * 50_000
        for _ in range(400):
            server.publish("flood", payload)
            await asyncio.sleep(0)
            if conn._lost:
                break
        await asyncio.wait_for(conn.wait_closed(), 5)
        assert server._hub.core.count("flood") == 0
        # the history still has it all: the client can resume later
        assert server._hub.core.position("flood")[1] > 0
        slow._abort()
