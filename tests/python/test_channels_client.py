"""The client's side of the JSON channel protocol against a wskit server
with channels_path: subscribe / publish / unsubscribe, errors with the
server's code, and resume across reconnects of ``async for ws in
connect()`` (missed messages exactly once, in order; a gap raised as
wskit.ChannelGap). A hand-written server checks duplicates and timeouts."""

import asyncio
import json

import pytest

import wskit
from helpers import wskit_server

pytestmark = pytest.mark.timeout(30)

FAST = wskit.Backoff(initial_delay=0, min_delay=0.05, max_delay=0.2, jitter=0)


async def idle(ws):
    await ws.wait_closed()


def channels(**kw):
    kw.setdefault("channels_path", "/channels")
    return wskit_server(idle, **kw)


async def test_subscribe_publish_all_kinds():
    async with channels() as (server, url):
        async with wskit.connect(url + "channels") as a, wskit.connect(url + "channels") as b:
            await a.subscribe("news")
            assert await b.publish("news", "hello") == 1
            assert await b.publish("news", b"\x00\xff") == 2
            assert await b.publish("news", {"n": [1, 2], "s": "é"}) == 3
            got = [await asyncio.wait_for(a.recv(), 5) for _ in range(3)]
            assert [m.data for m in got] == ["hello", b"\x00\xff", {"n": [1, 2], "s": "é"}]
            assert [m.seq for m in got] == [1, 2, 3]
            assert all(isinstance(m, wskit.ChannelMessage) and m.channel == "news" and m.epoch
                       for m in got)
            # the server's own publish reaches the client too
            r = server.publish("news", "from the app")
            if asyncio.iscoroutine(r):
                await r
            m = await asyncio.wait_for(a.recv(), 5)
            assert (m.data, m.seq) == ("from the app", 4)
            # b never subscribed: nothing for it
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(b.recv(), 0.3)


async def test_unsubscribe_stops_messages():
    async with channels() as (server, url):
        async with wskit.connect(url + "channels") as a, wskit.connect(url + "channels") as b:
            await a.subscribe("x")
            await a.subscribe("y")
            await a.unsubscribe("x")
            await b.publish("x", "lost on a")
            await b.publish("y", "for a")
            m = await asyncio.wait_for(a.recv(), 5)
            assert (m.channel, m.data) == ("y", "for a")
            with pytest.raises(wskit.ChannelError) as e:
                await a.unsubscribe("never")
            assert e.value.code == "not_subscribed"


async def test_refused_by_authorize_raises_channel_error_with_the_code():
    def authorize(conn, action, channel):
        return not (channel == "secret" or (action == "publish" and channel == "readonly"))

    async with channels(authorize=authorize) as (server, url):
        async with wskit.connect(url + "channels") as ws:
            with pytest.raises(wskit.ChannelError) as e:
                await ws.subscribe("secret")
            assert e.value.code == "forbidden" and e.value.channel == "secret"
            await ws.subscribe("readonly")
            with pytest.raises(wskit.ChannelError) as e:
                await ws.publish("readonly", "no")
            assert e.value.code == "forbidden"
            # still usable
            assert await ws.publish("open", "yes") == 1


async def test_plain_connections_keep_their_json():
    # a connection that never used channels gets protocol-looking text as is
    frame = json.dumps({"type": "message", "channel": "c", "seq": 1, "epoch": "e", "data": "x"})

    async def send_frame(ws):
        await ws.send(frame)
        await ws.wait_closed()

    async with wskit_server(send_frame) as (_, url):
        async with wskit.connect(url) as ws:
            assert await asyncio.wait_for(ws.recv(), 5) == frame


async def hand_written(ws):
    """A protocol server by hand: answers subscribe, then sends messages
    1, 2, 2, 1, 3 (duplicates), a gap, then 7; never answers publish."""
    async for text in ws:
        req = json.loads(text)
        if req["type"] == "subscribe":
            ch = req["channel"]
            await ws.send(json.dumps({"type": "subscribed", "channel": ch, "epoch": "E",
                                      "seq": 0, "recovered": False, "id": req.get("id")}))
            for seq in (1, 2, 2, 1, 3):
                await ws.send(json.dumps({"type": "message", "channel": ch, "seq": seq,
                                          "epoch": "E", "data": f"m{seq}"}))
            await ws.send(json.dumps({"type": "gap", "channel": ch, "epoch": "E", "from": 4,
                                      "to": 6, "reason": "expired"}))
            await ws.send(json.dumps({"type": "message", "channel": ch, "seq": 5,
                                      "epoch": "E", "data": "late"}))
            await ws.send(json.dumps({"type": "message", "channel": ch, "seq": 7,
                                      "epoch": "E", "data": "m7"}))


async def test_duplicates_dropped_and_gap_raised_in_order():
    async with wskit_server(hand_written) as (_, url):
        async with wskit.connect(url) as ws:
            await ws.subscribe("c")
            got = [(await asyncio.wait_for(ws.recv(), 5)).data for _ in range(3)]
            assert got == ["m1", "m2", "m3"]
            with pytest.raises(wskit.ChannelGap) as e:
                await asyncio.wait_for(ws.recv(), 5)
            gap = e.value
            assert (gap.channel, gap.first, gap.last, gap.reason) == ("c", 4, 6, "expired")
            assert "4 to 6" in str(gap)
            # the gap moved the position: 5 is behind it; the connection goes on
            m = await asyncio.wait_for(ws.recv(), 5)
            assert (m.seq, m.data) == (7, "m7")


async def test_unanswered_request_times_out():
    async with wskit_server(hand_written) as (_, url):
        async with wskit.connect(url) as ws:
            with pytest.raises(wskit.RequestTimeout) as e:
                await ws.publish("c", "nobody acks", timeout=0.2)
            assert e.value.method == "publish"


async def test_request_on_a_closed_connection_raises_connection_closed():
    async with channels() as (_, url):
        ws = await wskit.connect(url + "channels")
        await ws.close()
        with pytest.raises(wskit.ConnectionClosed):
            await ws.subscribe("x")


async def drop_clients(server):
    """Cut every connection as a network failure would (no close frame)."""
    for conn in list(server.connections):
        conn.transport.abort()


async def publish(server, channel, data):
    r = server.publish(channel, data)
    if asyncio.iscoroutine(r):
        await r


async def wait_for(cond, timeout=5):
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_reconnect_resumes_missed_messages_exactly_once():
    async with channels() as (server, url):
        got, opened, lost = [], [], []
        first_batch = asyncio.Event()
        back = asyncio.Event()  # the client stays away until the test says

        async def client():
            async for ws in wskit.connect(url + "channels", backoff=FAST):
                opened.append(ws)
                if len(opened) == 1:
                    await ws.subscribe("room")
                    await ws.subscribe("other")
                try:
                    async for m in ws:
                        got.append((m.channel, m.seq, m.data))
                        if len(got) == 3:
                            first_batch.set()
                        if len(got) == 9:
                            return
                except wskit.ConnectionClosed:
                    lost.append(ws)
                    await back.wait()
                    continue

        task = asyncio.ensure_future(client())
        try:
            await wait_for(lambda: opened)
            await wait_for(lambda: len(server.connections) == 1)
            await asyncio.sleep(0.1)  # the subscribes are answered
            for i in (1, 2, 3):
                await publish(server, "room", f"r{i}")
            await asyncio.wait_for(first_batch.wait(), 5)
            await drop_clients(server)
            await wait_for(lambda: lost and not server.connections)
            # published while the client is away: it must get them on its return
            for i in (4, 5, 6):
                await publish(server, "room", f"r{i}")
            await publish(server, "other", "o1")
            back.set()
            await wait_for(lambda: len(opened) == 2)
            await publish(server, "room", "r7")
            await publish(server, "other", "o2")
            await asyncio.wait_for(task, 10)
        finally:
            task.cancel()
        room = [(s, d) for c, s, d in got if c == "room"]
        other = [(s, d) for c, s, d in got if c == "other"]
        assert room == [(i, f"r{i}") for i in range(1, 8)]
        assert other == [(1, "o1"), (2, "o2")]
        # what was missed came before what was published after the reconnect
        assert got.index(("room", 6, "r6")) < got.index(("room", 7, "r7"))


async def test_reconnect_past_the_history_raises_channel_gap():
    async with channels(history_size=2) as (server, url):
        events, opened, lost = [], [], []
        back = asyncio.Event()

        async def client():
            async for ws in wskit.connect(url + "channels", backoff=FAST):
                opened.append(ws)
                if len(opened) == 1:
                    await ws.subscribe("c")
                while True:
                    try:
                        m = await ws.recv()
                    except wskit.ChannelGap as gap:
                        events.append(("gap", gap.first, gap.last, gap.reason))
                        continue  # the connection stays usable
                    except wskit.ConnectionClosed:
                        lost.append(ws)
                        await back.wait()
                        break
                    events.append(("msg", m.seq, m.data))
                    if m.seq == 7:
                        return

        task = asyncio.ensure_future(client())
        try:
            await wait_for(lambda: opened and len(server.connections) == 1)
            await asyncio.sleep(0.1)
            await publish(server, "c", "m1")
            await wait_for(lambda: events)
            await drop_clients(server)
            await wait_for(lambda: lost and not server.connections)
            for i in range(2, 7):  # 2..6; the history keeps 5 and 6
                await publish(server, "c", f"m{i}")
            back.set()
            await wait_for(lambda: len(opened) == 2)
            await publish(server, "c", "m7")
            await asyncio.wait_for(task, 10)
        finally:
            task.cancel()
        assert events == [("msg", 1, "m1"), ("gap", 2, 4, "expired"), ("msg", 5, "m5"),
                          ("msg", 6, "m6"), ("msg", 7, "m7")]


def test_tracker_binding_bounds_channel_names():
    t = wskit._core.ChanClient()
    t.add("x" * 1024)  # the protocol's longest channel name
    with pytest.raises(ValueError):
        t.add("x" * 1025)
    with pytest.raises(ValueError):
        t.add("")
    assert len(t) == 1 and t.position("x" * 1024) == (0, "")
    # a frame naming a channel over the bound is not a frame of the protocol
    assert t.feed(json.dumps({"type": "message", "channel": "y" * 1025, "seq": 1,
                              "epoch": "e", "data": "d"})) is None


async def test_client_and_server_encode_payloads_alike():
    # one function for both sides: NaN is not JSON, refused before sending
    from wskit import channels_client, hub
    assert channels_client.encode_payload is hub.encode_payload
    async with channels() as (server, url):
        async with wskit.connect(url + "channels") as ws:
            with pytest.raises(ValueError):
                await ws.publish("n", {"x": float("nan")})
            with pytest.raises(ValueError):
                server.publish("n", [float("inf")])
            assert await ws.publish("n", {"x": 1.5}) == 1
