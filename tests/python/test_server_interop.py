"""Foreign clients (websockets, aiohttp, Node ws) against our server."""

import os

import pytest

from helpers import node_available, node_process, read_line, wskit_echo, wskit_server

pytestmark = pytest.mark.timeout(30)


def recording(record):
    """An echo handler that records (close_code, close_reason, subprotocol)."""
    async def handler(ws):
        try:
            await wskit_echo(ws)
        finally:
            await ws.wait_closed()
            record.append((ws.close_code, ws.close_reason, ws.subprotocol))
    return handler


@pytest.mark.parametrize("compression", [True, False], ids=["deflate", "plain"])
async def test_websockets_client(compression):
    import websockets

    record = []
    comp = "deflate" if compression else None
    async with wskit_server(recording(record), compression=comp, max_size=8 << 20,
                            subprotocols=["chat"]) as (server, url):
        async with websockets.connect(url, compression=comp, max_size=8 << 20,
                                      subprotocols=["chat"]) as ws:
            assert ws.subprotocol == "chat"
            assert (ws.extensions != []) == compression
            for message in ("hello", "héllo ✓", b"\x00\xff", b"", os.urandom((1 << 20) + 3),
                            "wskit " * 300000):
                await ws.send(message)
                assert await ws.recv() == message
            await ws.send(["frag", "men", "ted"])
            assert await ws.recv() == "fragmented"
            await ws.close(4003, "bye")
    assert record == [(4003, "bye", "chat")]


async def test_websockets_client_sees_server_close():
    import websockets

    async with wskit_server() as (server, url):
        async with websockets.connect(url) as ws:
            await ws.send("close:4004:server says bye")
            with pytest.raises(websockets.ConnectionClosed) as info:
                await ws.recv()
            assert info.value.code == 4004
            assert info.value.reason == "server says bye"


@pytest.mark.parametrize("compression", [True, False], ids=["deflate", "plain"])
async def test_websockets_client_over_max_size(compression):
    import websockets

    comp = "deflate" if compression else None
    async with wskit_server(compression=comp, max_size=1000) as (server, url):
        async with websockets.connect(url, compression=comp) as ws:
            await ws.send(bytes(100000))
            with pytest.raises(websockets.ConnectionClosed) as info:
                await ws.recv()
            assert info.value.code == 1009


@pytest.mark.parametrize("compression", [True, False], ids=["deflate", "plain"])
async def test_aiohttp_client(compression):
    import aiohttp

    record = []
    async with wskit_server(recording(record), subprotocols=["chat"],
                            max_size=8 << 20) as (server, url):
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, compress=15 if compression else 0,
                                          protocols=("chat",), max_msg_size=8 << 20) as ws:
                assert ws.protocol == "chat"
                assert bool(ws.compress) == compression
                for text in ("hello", "wskit " * 300000):
                    await ws.send_str(text)
                    assert (await ws.receive()).data == text
                for data in (b"\x01\x02", os.urandom((1 << 20) + 9)):
                    await ws.send_bytes(data)
                    assert (await ws.receive()).data == data
                await ws.close(code=4005, message=b"aio bye")
    assert record == [(4005, "aio bye", "chat")]


@pytest.mark.parametrize("compression", [True, False], ids=["deflate", "plain"])
async def test_aiohttp_client_over_max_size(compression):
    import aiohttp

    async with wskit_server(compression="deflate" if compression else None,
                            max_size=1000) as (server, url):
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, compress=15 if compression else 0) as ws:
                await ws.send_bytes(bytes(100000))
                msg = await ws.receive()
                assert msg.type == aiohttp.WSMsgType.CLOSE
                assert ws.close_code == 1009


@pytest.mark.parametrize("compression", [True, False], ids=["deflate", "plain"])
async def test_node_client(compression):
    if not node_available():
        pytest.fail("node ws is not installed (apt-get install -y nodejs node-ws)")
    record = []
    async with wskit_server(recording(record), subprotocols=["chat"],
                            max_size=8 << 20,
                            compression="deflate" if compression else None) as (server, url):
        async with node_process("client", url, "deflate" if compression else "plain") as proc:
            assert await read_line(proc) == "OK"
            assert (await read_line(proc)).split()[:2] == ["CLOSED", "4000"]  # echoed code
            assert await proc.wait() == 0
        await_all = [c.wait_closed() for c in list(server.connections)]
        for w in await_all:
            await w
    assert record == [(4000, "bye", "chat")]
