"""The awaitable connection between our own client and server: ping,
recv semantics, backpressure, send types, close codes both ways."""

import asyncio

import pytest

import wskit
from helpers import wskit_echo, wskit_server
from wskit.exceptions import ConnectionClosedError, ConnectionClosedOK


async def test_ping_yields_latency():
    async with wskit_server() as (server, url):
        async with wskit.connect(url) as ws:
            waiter = await ws.ping()
            latency = await asyncio.wait_for(waiter, 5)
            assert 0 < latency < 1
            assert ws.latency == latency


async def test_pong_acknowledges_earlier_pings():
    async with wskit_server() as (server, url):
        async with wskit.connect(url) as ws:
            first = await ws.ping(b"first")
            second = await ws.ping("second")
            assert await asyncio.wait_for(second, 5) >= 0
            assert first.done() and first.result() >= 0


async def test_ping_with_pending_payload_is_refused():
    async with wskit_server() as (server, url):
        async with wskit.connect(url) as ws:
            await ws.ping(b"same")
            with pytest.raises(ValueError):
                await ws.ping(b"same")
            with pytest.raises(ValueError):
                await ws.ping(b"x" * 126)


async def test_pending_ping_fails_when_closed():
    gate = asyncio.Event()

    async def slow(ws):
        await gate.wait()

    async with wskit_server(slow) as (server, url):
        ws = await wskit.connect(url)
        ws._pause_reading()  # the pong cannot be read
        waiter = await ws.ping()
        ws._abort()
        with pytest.raises(ConnectionClosedError):
            await waiter
        gate.set()


async def test_cancelled_recv_loses_no_message():
    count = 300

    async def burst(ws):
        for i in range(count):
            await ws.send(str(i))
            if i % 7 == 0:
                await asyncio.sleep(0)
        await ws.wait_closed()

    async with wskit_server(burst) as (server, url):
        async with wskit.connect(url) as ws:
            got = []
            while len(got) < count:
                try:
                    got.append(await asyncio.wait_for(ws.recv(), 0.0001))
                except asyncio.TimeoutError:
                    pass
            assert got == [str(i) for i in range(count)]


async def test_concurrent_recv_is_an_error():
    async with wskit_server() as (server, url):
        async with wskit.connect(url) as ws:
            first = asyncio.ensure_future(ws.recv())
            await asyncio.sleep(0.01)
            with pytest.raises(RuntimeError):
                await ws.recv()
            await ws.send("x")
            assert await first == "x"


async def test_iteration_ends_on_normal_close():
    async def two(ws):
        await ws.send("a")
        await ws.send("b")

    async with wskit_server(two) as (server, url):
        async with wskit.connect(url) as ws:
            assert [m async for m in ws] == ["a", "b"]
            assert ws.close_code == 1000


async def test_send_rejects_other_types():
    async with wskit_server() as (server, url):
        async with wskit.connect(url) as ws:
            with pytest.raises(TypeError):
                await ws.send(42)
            with pytest.raises(TypeError):
                await ws.send({"a": 1})
            await ws.send("still open")
            assert await ws.recv() == "still open"


async def test_mixed_fragments_fail_the_connection():
    async with wskit_server() as (server, url):
        async with wskit.connect(url) as ws:
            with pytest.raises(TypeError):
                await ws.send([b"nothing sent yet", "text"])
            await ws.send("open")  # nothing was sent: the connection is fine
            assert await ws.recv() == "open"
            with pytest.raises(TypeError):
                await ws.send(["a", "b", b"c"])  # "a" went out: the message can't end
            with pytest.raises(ConnectionClosedError):
                await ws.recv()
            assert ws._sent_code == 1011


async def test_max_queue_pauses_reading_and_the_sender():
    """Uncompressed: reading pauses and the sender is held back by TCP."""
    count, size = 200, 64 * 1024
    sent = []

    async def flood(ws):
        for i in range(count):
            await ws.send(bytes([i % 256]) * size)
            sent.append(i)
        await ws.wait_closed()

    async with wskit_server(flood, compression=None) as (server, url):
        async with wskit.connect(url, max_queue=4, compression=None) as ws:
            await asyncio.sleep(0.3)
            assert ws._reading_paused
            assert len(ws._queue) == 4
            assert len(sent) < count  # the server is held back by its write_limit
            for i in range(count):
                message = await ws.recv()
                assert len(message) == size and message[0] == i % 256
            assert not ws._reading_paused


async def test_server_close_code_reaches_client():
    async with wskit_server() as (server, url):
        ws = await wskit.connect(url)
        server.close()
        with pytest.raises(ConnectionClosedOK) as info:
            await ws.recv()
        assert info.value.code == 1001
        await server.wait_closed()


async def test_client_close_code_reaches_handler():
    seen = asyncio.get_running_loop().create_future()

    async def handler(ws):
        try:
            await ws.recv()
        except wskit.ConnectionClosed as exc:
            seen.set_result((type(exc), exc.code, exc.reason))

    async with wskit_server(handler) as (server, url):
        async with wskit.connect(url) as ws:
            await ws.close(1000, "see you")
        assert await seen == (ConnectionClosedOK, 1000, "see you")


async def test_handler_exception_closes_with_1011():
    async def broken(ws):
        raise RuntimeError("boom")

    async with wskit_server(broken) as (server, url):
        async with wskit.connect(url) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == 1011


async def test_invalid_close_code_is_a_value_error():
    async with wskit_server() as (server, url):
        async with wskit.connect(url) as ws:
            with pytest.raises(ValueError):
                await ws.close(1005)
            with pytest.raises(ValueError):
                await ws.close(1000, "x" * 124)
            assert ws.state is wskit.State.OPEN


async def test_addresses_and_state():
    async with wskit_server() as (server, url):
        async with wskit.connect(url) as ws:
            assert ws.state is wskit.State.OPEN
            assert ws.remote_address[1] == server.sockets[0].getsockname()[1]
            assert ws.local_address[0] == "127.0.0.1"
            (conn,) = server.connections
            assert conn.remote_address == ws.local_address
            assert conn.handshake_request.path == "/"
        assert ws.state is wskit.State.CLOSED


async def test_drain_and_write_limit():
    async with wskit_server() as (server, url):
        async with wskit.connect(url, write_limit=1024) as ws:
            big = b"y" * 300000
            await ws.send(big)  # waits for the transport below the limit
            assert not ws._writing_paused
            assert await ws.recv() == big
            await ws.drain()


async def test_keepalive_ping_measures_latency():
    async with wskit_server(ping_interval=None) as (server, url):
        async with wskit.connect(url, ping_interval=0.05, ping_timeout=1) as ws:
            await asyncio.sleep(0.3)
            assert ws.latency >= 0
            assert ws.state is wskit.State.OPEN


async def test_keepalive_timeout_fails_with_1011():
    async with wskit_server(wskit_echo, close_timeout=0.5) as (server, url):
        async with wskit.connect(url, ping_interval=0.05, ping_timeout=0.1,
                                 close_timeout=0.5) as ws:
            (conn,) = server.connections
            conn._pause_reading()  # the server stops reading: no pong comes back
            with pytest.raises(ConnectionClosedError):
                await ws.recv()
            assert ws._sent_code == 1011


async def test_max_queue_holds_back_compressed_floods():
    count = 300

    async def flood(ws):
        for i in range(count):
            await ws.send(bytes([i % 256]) * 65536)  # ~100 bytes each once compressed
        await ws.wait_closed()

    async with wskit_server(flood) as (server, url):
        async with wskit.connect(url, max_queue=4) as ws:
            await asyncio.sleep(0.3)
            assert ws._reading_paused
            # a single read holds them all, yet only max_queue are inflated
            assert len(ws._queue) == 4
            for i in range(count):
                message = await ws.recv()
                assert len(message) == 65536 and message[0] == i % 256


async def test_close_with_a_full_queue_is_prompt():
    async def flood(ws):
        try:
            while True:
                await ws.send(b"z" * 1000)
        except wskit.ConnectionClosed:
            pass

    async with wskit_server(flood) as (server, url):
        ws = await wskit.connect(url, max_queue=2, close_timeout=10)
        await asyncio.sleep(0.2)
        assert ws._reading_paused
        loop = asyncio.get_running_loop()
        start = loop.time()
        await ws.close()  # the server's echo is behind a wall of messages
        assert loop.time() - start < 5  # not close_timeout
        assert ws.close_code == 1000
