"""wskit.broadcast() and the server's channels: one frame for many
connections, slow readers skipped (never buffered for), both styles, and
channel membership ending with the connection."""

import asyncio
import os

import pytest

import wskit
from helpers import wskit_server
from wskit import _core
from wskit.exceptions import ConnectionClosed


async def hold(ws):
    await ws.wait_closed()


async def open_clients(url, n, **kwargs):
    return [await wskit.connect(url, **kwargs) for _ in range(n)]


async def server_side(server, n):
    while len([c for c in server.connections if c.state == wskit.State.OPEN]) < n:
        await asyncio.sleep(0.005)
    return [c for c in server.connections if c.state == wskit.State.OPEN]


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_broadcast_frames_once_and_reaches_everyone(compression):
    async with wskit_server(hold, compression=compression) as (server, url):
        clients = await open_clients(url, 5, compression=compression)
        conns = await server_side(server, 5)
        before = _core._broadcast_count()
        assert wskit.broadcast(conns, "hello everyone") == []
        assert _core._broadcast_count() == before + 1  # one frame for five
        blob = os.urandom(5000)
        assert wskit.broadcast(set(conns), blob) == []
        assert wskit.broadcast(conns, memoryview(b"view")) == []
        assert _core._broadcast_count() == before + 3
        for ws in clients:
            assert await ws.recv() == "hello everyone"
            assert await ws.recv() == blob
            assert await ws.recv() == b"view"
            await ws.close()


GOT = []


class Collect(wskit.Handler):
    def on_message(self, message):
        GOT.append(message)


async def test_broadcast_mixes_styles_and_sides():
    del GOT[:]
    async with wskit_server(Collect) as (server, url):
        awaitable = await wskit.connect(url)
        handler = await wskit.connect(url, protocol_class=Collect)
        conns = await server_side(server, 2)
        # server side (Handlers) -> an awaitable and a Handler client
        assert wskit.broadcast(conns, "down") == []
        assert await awaitable.recv() == "down"
        while GOT != ["down"]:
            await asyncio.sleep(0.005)
        # client side: each client masks its own copy
        assert wskit.broadcast([awaitable, handler], "up") == []
        while len(GOT) < 3:
            await asyncio.sleep(0.005)
        assert GOT == ["down", "up", "up"]
        await awaitable.close()
        handler.close()
        await handler.wait_closed()


async def test_broadcast_skips_closed_connections():
    async with wskit_server(hold) as (server, url):
        a, b = await open_clients(url, 2)
        conns = await server_side(server, 2)
        await b.close()
        gone = [c for c in conns if c.state != wskit.State.OPEN]
        while not gone:
            await asyncio.sleep(0.005)
            gone = [c for c in conns if c.state != wskit.State.OPEN]
        skipped = wskit.broadcast(conns, "still here?")
        assert skipped == gone
        assert await a.recv() == "still here?"
        await a.close()
        with pytest.raises(TypeError):
            wskit.broadcast(["not a connection"], "x")
        with pytest.raises(TypeError):
            wskit.broadcast(conns, 42)


@pytest.mark.timeout(30)
async def test_broadcast_skips_a_slow_reader_and_memory_stays_bounded():
    message = os.urandom(64 * 1024)
    async with wskit_server(hold, compression=None) as (server, url):
        fast = await wskit.connect(url, compression=None, max_queue=None)
        slow = await wskit.connect(url, compression=None)
        slow._pause_reading()  # never reads again
        conns = await server_side(server, 2)
        slow_conn = [c for c in conns if c.remote_address == slow.local_address][0]
        fast_conn = [c for c in conns if c is not slow_conn][0]
        sent = skipped_slow = 0
        for _ in range(1000):  # 64 MB in all: far more than the kernel's buffers
            await fast_conn.drain()  # the fast reader keeps up
            skipped = wskit.broadcast(conns, message)
            sent += 1
            if slow_conn in skipped:
                skipped_slow += 1
            assert fast_conn not in skipped
            # user space never holds more than about write_limit for it
            assert slow_conn.transport.get_write_buffer_size() <= 32768 + len(message)
        assert skipped_slow > 500
        for _ in range(sent):
            assert await asyncio.wait_for(fast.recv(), 10) == message
        await fast.close()
        slow._abort()


async def test_channels_subscribe_publish_unsubscribe():
    async def member(ws):
        async for message in ws:
            op, _, name = message.partition(":")
            if op == "join":
                await ws.send(str(ws.subscribe(name)))
            elif op == "leave":
                await ws.send(str(ws.unsubscribe(name)))
            elif op == "list":
                await ws.send(",".join(ws.channels))

    async with wskit_server(member) as (server, url):
        a, b, c = await open_clients(url, 3)

        async def ask(ws, text):
            await ws.send(text)
            return await ws.recv()

        assert await ask(a, "join:news") == "True"
        assert await ask(a, "join:news") == "False"
        assert await ask(a, "join:sport") == "True"
        assert await ask(b, "join:news") == "True"
        assert await ask(c, "join:sport") == "True"
        assert await ask(a, "list") == "news,sport"
        assert server._channels.count("news") == 2 and len(server._channels) == 2
        assert len(server.subscribers("news")) == 2
        before = _core._broadcast_count()
        assert server.publish("news", "extra!") == []
        assert server.publish("sport", b"goal") == []
        assert server.publish("nobody-here", "lost") == []
        assert _core._broadcast_count() == before + 2  # once per publish with members
        assert await a.recv() == "extra!"
        assert await a.recv() == b"goal"
        assert await b.recv() == "extra!"
        assert await c.recv() == b"goal"
        assert await ask(a, "leave:news") == "True"
        assert await ask(a, "leave:news") == "False"
        server.publish("news", "second")
        assert await b.recv() == "second"
        assert await ask(a, "list") == "sport"  # a did not get "second"
        for ws in (a, b, c):
            await ws.close()


async def test_channels_are_left_when_the_connection_closes():
    joined = asyncio.Event()

    async def member(ws):
        for i in range(50):
            ws.subscribe(f"room-{i}")
        ws.subscribe("all")
        joined.set()
        await ws.wait_closed()
        with pytest.raises(ConnectionClosed):
            ws.subscribe("too late")

    async with wskit_server(member) as (server, url):
        ws = await wskit.connect(url)
        await joined.wait()
        (conn,) = server.connections
        assert len(conn.channels) == 51 and len(server._channels) == 51
        ws._abort()  # no closing handshake: connection_lost ends it
        await conn.wait_closed()
        assert len(server._channels) == 0
        assert server.subscribers("all") == []
        ws2 = await wskit.connect(url)
        await ws2.close()
        assert len(server._channels) == 0


class Room(wskit.Handler):
    """Callback style: joins "lobby" on open and relays to it."""

    def on_open(self):
        self.subscribe("lobby")

    def on_message(self, message):
        self._server.publish("lobby", message)


async def test_channels_in_the_handler_style():
    async with wskit_server(Room) as (server, url):
        a, b = await open_clients(url, 2)
        await server_side(server, 2)
        await a.send("from a")
        assert await a.recv() == "from a"
        assert await b.recv() == "from a"
        await a.close()
        await b.send("from b")
        assert await b.recv() == "from b"
        await b.close()
    assert len(server._channels) == 0


async def test_client_connections_have_no_server_channels():
    # on a client, subscribe()/unsubscribe() are the JSON channel protocol's
    # requests to the server (test_channels_client.py), not server channels
    async with wskit_server(hold) as (server, url):
        async with wskit.connect(url) as ws:
            assert ws.channels == []
            assert asyncio.iscoroutinefunction(ws.subscribe)


async def test_publish_skips_slow_subscribers():
    async def member(ws):
        ws.subscribe("feed")
        await ws.wait_closed()

    payload = os.urandom(60000)
    async with wskit_server(member, compression=None) as (server, url):
        slow = await wskit.connect(url, compression=None)
        slow._pause_reading()
        (conn,) = await server_side(server, 1)
        skipped = []
        for _ in range(400):
            skipped = server.publish("feed", payload)
            if skipped:
                break
            await asyncio.sleep(0)
        assert skipped == [conn]
        assert conn.transport.get_write_buffer_size() <= 32768 + len(payload)
        slow._abort()


def test_channel_registry_of_the_core():
    reg = _core.Channels()
    with pytest.raises(TypeError):
        reg.subscribe("x", object())
    with pytest.raises(ValueError):
        reg.count("")
    with pytest.raises(ValueError):
        reg.count("x" * 1025)
    assert reg.publish("empty", "nothing to do") == []
    assert len(reg) == 0 and reg.members("none") == []
