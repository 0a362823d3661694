"""Rate limits (docs/auth.md): the per-connection message rate under each
policy (error reply, drop, close 1008) and the per-address connection
limit under each policy (429 with Retry-After, or accept then 1013), with
the counts the application reads (ws.stats, server.stats,
server.connections_per_ip). Real clients: wskit's own, python3-websockets,
and raw sockets for peers that flood or hold connections open."""

import asyncio
import json

import pytest
import websockets

import wskit
from helpers import port_of, wskit_server
from test_auth import RawClient
from wskit.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

BURST = 3
FLOOD = 10


async def stats_echo(ws):
    """Echo; the text "stats" answers with ws.stats as JSON."""
    async for message in ws:
        if message == "stats":
            await ws.send(json.dumps(ws.stats))
        else:
            await ws.send(message)


class StatsEcho(wskit.Handler):
    """The callback style: the same protocol as stats_echo."""

    def on_message(self, message):
        self.send(json.dumps(self.stats) if message == "stats" else message)


async def wait_for(predicate, timeout=3.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "condition not reached in time"
        await asyncio.sleep(0.01)


def is_rate_error(message):
    if not isinstance(message, str) or not message.startswith("{"):
        return False
    data = json.loads(message)
    return data.get("type") == "error" and data.get("code") == "rate_limited"


# ---- message rate ----

@pytest.mark.parametrize("app", [stats_echo, StatsEcho], ids=["awaitable", "callback"])
async def test_rate_error_policy_replies_and_keeps_the_connection(app):
    # 1 message/s refills too slowly to matter during the flood
    async with wskit_server(app, message_rate=1, message_burst=BURST,
                            rate_policy="error") as (server, url):
        async with wskit.connect(url) as ws:
            for i in range(FLOOD):
                await ws.send(f"m{i}")
            replies = [await ws.recv() for _ in range(FLOOD)]
            echoed = [r for r in replies if not is_rate_error(r)]
            errors = [json.loads(r) for r in replies if is_rate_error(r)]
            assert echoed == [f"m{i}" for i in range(BURST)]
            assert len(errors) == FLOOD - BURST
            assert all(e["message"] for e in errors)
            await asyncio.sleep(1.1)  # one token back: the connection is still usable
            await ws.send("stats")
            stats = json.loads(await ws.recv())
            assert stats["rate_limited"] == FLOOD - BURST
            assert stats["messages_out"] >= BURST
        assert server.stats["rate_limited"] == FLOOD - BURST


async def test_rate_drop_policy_discards_silently():
    import websockets

    async with wskit_server(stats_echo, message_rate=1, message_burst=BURST,
                            rate_policy="drop") as (server, url):
        async with websockets.connect(url) as ws:
            for i in range(FLOOD):
                await ws.send(f"m{i}")
            got = [await ws.recv() for _ in range(BURST)]
            assert got == [f"m{i}" for i in range(BURST)]
            await asyncio.sleep(1.1)
            await ws.send("stats")  # the next reply is this one: nothing else came
            stats = json.loads(await ws.recv())
            assert stats["rate_limited"] == FLOOD - BURST
        await wait_for(lambda: not server.connections)
        assert server.stats["rate_limited"] == FLOOD - BURST


async def test_rate_close_policy_closes_1008():
    import websockets

    received = []

    async def handler(ws):  # every message the handler gets, even while closing
        while True:
            try:
                message = await ws.recv()
            except ConnectionClosed:
                return
            received.append(message)
            try:
                await ws.send(message)
            except ConnectionClosed:
                pass

    def is_prefix(got, prefix):
        # the echoes race the close frame: any prefix of what was let through
        return got == [f"{prefix}{i}" for i in range(len(got))] and len(got) <= BURST

    async with wskit_server(handler, message_rate=1, message_burst=BURST,
                            rate_policy="close") as (server, url):
        async with wskit.connect(url) as ws:
            for i in range(FLOOD):
                try:
                    await ws.send(f"m{i}")
                except ConnectionClosedError:
                    break
            got = []
            with pytest.raises(ConnectionClosedError) as info:
                while True:
                    got.append(await ws.recv())
            assert info.value.code == 1008
            assert is_prefix(got, "m"), got
        raw, _ = await RawClient.connect(port_of(server))  # a flood in one write
        raw.send(*[f"r{i}" for i in range(FLOOD)])
        messages, code, _ = await raw.until_close()
        assert code == 1008
        assert is_prefix(messages, "r"), messages
        raw.close()
        async with websockets.connect(url) as ws:  # a polite client is not affected
            await ws.send("ok")
            assert await ws.recv() == "ok"
        await wait_for(lambda: not server.connections)
        # the handler saw exactly the messages within the burst, nothing after
        assert received == [f"m{i}" for i in range(BURST)] + [f"r{i}" for i in range(BURST)] + [
            "ok"]
        assert server.stats["rate_limited"] == 2  # the close came at the first one over


async def test_rate_refills_over_time():
    async with wskit_server(stats_echo, message_rate=20, message_burst=2,
                            rate_policy="error") as (server, url):
        async with wskit.connect(url) as ws:
            for i in range(6):  # 10/s: under the rate of 20/s
                await ws.send(f"m{i}")
                assert await ws.recv() == f"m{i}"
                await asyncio.sleep(0.1)
            await ws.send("stats")
            assert json.loads(await ws.recv())["rate_limited"] == 0


async def test_rate_options_are_checked():
    with pytest.raises(ValueError):
        wskit.serve(stats_echo, "127.0.0.1", 0, rate_policy="ignore")
    with pytest.raises(ValueError):
        wskit.serve(stats_echo, "127.0.0.1", 0, message_rate=-1)
    with pytest.raises(ValueError):
        wskit.serve(stats_echo, "127.0.0.1", 0, ip_limit_policy="drop")
    with pytest.raises(ValueError):
        wskit.serve(stats_echo, "127.0.0.1", 0, max_connections_per_ip=-2)


async def test_stats_count_messages_and_bytes():
    async with wskit_server(stats_echo) as (server, url):
        async with wskit.connect(url) as ws:
            await ws.send("abc")
            await ws.recv()
            await ws.send(b"\x00" * 10)
            await ws.recv()
            await ws.send("stats")
            stats = json.loads(await ws.recv())
            # counted when the message arrives: "stats" itself is the third
            assert stats["messages_in"] == 3
            assert stats["bytes_in"] == 3 + 10 + 5
            assert stats["messages_out"] == 2
            assert stats["bytes_out"] == 3 + 10
            assert stats["rate_limited"] == 0
            assert server.stats["connections"] == 1


# ---- connections per address ----

async def test_ip_limit_reject_answers_429():
    import websockets

    async with wskit_server(stats_echo, max_connections_per_ip=2,
                            ip_limit_policy="reject") as (server, url):
        a = await wskit.connect(url)
        b = await websockets.connect(url)
        assert server.connections_per_ip("127.0.0.1") == 2
        with pytest.raises(InvalidStatus) as info:
            await wskit.connect(url)
        assert info.value.response.status == 429
        assert int(info.value.response.headers["Retry-After"]) > 0
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as winfo:
            await websockets.connect(url)
        assert winfo.value.status_code == 429
        assert server.connections_per_ip("127.0.0.1") == 2  # the refused ones never counted
        await b.close()
        await wait_for(lambda: server.connections_per_ip("127.0.0.1") == 1)
        async with wskit.connect(url) as c:  # a slot is free again
            await c.send("x")
            assert await c.recv() == "x"
        await a.close()
        await wait_for(lambda: server.connections_per_ip("127.0.0.1") == 0)
        stats = server.stats
        assert stats["ip_rejected"] == 2
        assert stats["addresses"] == 0


async def test_ip_limit_counts_idle_raw_sockets():
    # sockets that never send a request hold their slots (until open_timeout)
    async with wskit_server(stats_echo, max_connections_per_ip=3,
                            open_timeout=2) as (server, url):
        socks = [await asyncio.open_connection("127.0.0.1", port_of(server)) for _ in range(3)]
        await wait_for(lambda: server.connections_per_ip("127.0.0.1") == 3)
        with pytest.raises(InvalidStatus) as info:
            await wskit.connect(url)
        assert info.value.response.status == 429
        for _, writer in socks:
            writer.close()
        await wait_for(lambda: server.connections_per_ip("127.0.0.1") == 0)
        async with wskit.connect(url) as ws:
            await ws.send("in")
            assert await ws.recv() == "in"


async def test_ip_limit_close_policy_accepts_then_closes_1013():
    handled = []

    async def handler(ws):
        handled.append(ws)
        await stats_echo(ws)

    import websockets

    async with wskit_server(handler, max_connections_per_ip=1,
                            ip_limit_policy="close") as (server, url):
        async with wskit.connect(url) as first:
            with_wskit = await wskit.connect(url)  # the handshake succeeds...
            with pytest.raises(ConnectionClosedError) as info:
                await with_wskit.recv()  # ...then 1013
            assert info.value.code == 1013
            async with websockets.connect(url) as ws:
                with pytest.raises(websockets.exceptions.ConnectionClosedError) as winfo:
                    await ws.recv()
                assert winfo.value.rcvd.code == 1013
            await first.send("still here")
            assert await first.recv() == "still here"
            assert server.connections_per_ip("127.0.0.1") == 1
        assert server.stats["ip_closed"] == 2
    assert len(handled) == 1  # the handler never saw the refused ones


async def test_ip_limit_close_policy_with_the_callback_style():
    events = []

    class App(wskit.Handler):
        def on_open(self):
            events.append("open")

        def on_message(self, message):
            self.send(message)

        def on_close(self, code, reason):
            events.append(("close", code))

    async with wskit_server(App, max_connections_per_ip=1,
                            ip_limit_policy="close") as (server, url):
        async with wskit.connect(url) as first:
            refused = await wskit.connect(url)
            with pytest.raises(ConnectionClosedError) as info:
                await refused.recv()
            assert info.value.code == 1013
            await first.send("x")
            assert await first.recv() == "x"
        await wait_for(lambda: len(events) == 2)
    assert events == ["open", ("close", 1000)]  # the refused one never reached the app


async def test_rate_error_answers_a_channel_request_with_its_id_and_channel():
    # the refusal names the request it refuses, so a client's publish fails
    # with ChannelError("rate_limited") instead of waiting for a timeout
    async def idle(ws):
        await ws.wait_closed()

    async with wskit_server(idle, channels_path="/channels", message_rate=0.1, message_burst=2,
                            rate_policy="error") as (server, url):
        async with wskit.connect(url + "channels") as ws:
            await ws.subscribe("c")  # token 1
            assert await ws.publish("c", "a") == 1  # token 2
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with pytest.raises(wskit.ChannelError) as info:
                await ws.publish("c", "over", timeout=5)
            assert loop.time() - t0 < 2  # answered, not timed out
            assert (info.value.code, info.value.channel) == ("rate_limited", "c")
        async with websockets.connect(url + "channels") as raw:
            for n in range(2):
                await raw.send(json.dumps({"type": "subscribe", "channel": f"s{n}"}))
                assert json.loads(await raw.recv())["type"] == "subscribed"
            await raw.send(json.dumps({"type": "publish", "channel": "c", "data": "x",
                                       "id": "q1"}))
            err = json.loads(await raw.recv())
            assert (err["type"], err["code"], err["id"], err["channel"]) == \
                ("error", "rate_limited", "q1", "c")
            for other in ("not json", b"\x00binary"):  # nothing to copy: a plain error
                await raw.send(other)
                err = json.loads(await raw.recv())
                assert (err["code"], "id" in err, "channel" in err) == \
                    ("rate_limited", False, False)
