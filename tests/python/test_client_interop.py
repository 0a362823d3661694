"""Our client against foreign servers (websockets, aiohttp, Node ws)."""

import os

import pytest

import wskit
from helpers import PEERS, node_available, peer_server
from wskit.exceptions import ConnectionClosedError, PayloadTooBig

pytestmark = pytest.mark.timeout(30)


def need(peer):
    if peer == "node" and not node_available():
        pytest.fail("node ws is not installed (apt-get install -y nodejs node-ws)")


@pytest.mark.parametrize("compression", [True, False], ids=["deflate", "plain"])
@pytest.mark.parametrize("peer", PEERS)
async def test_messages_round_trip(peer, compression):
    need(peer)
    async with peer_server(peer, compression) as url:
        comp = "deflate" if compression else None
        async with wskit.connect(url, compression=comp, max_size=8 << 20) as ws:
            assert (ws.compression is not None) == compression
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send("héllo ✓")
            assert await ws.recv() == "héllo ✓"
            await ws.send(b"\x00\x01\xff")
            assert await ws.recv() == b"\x00\x01\xff"
            await ws.send(bytearray(b"ba"))
            assert await ws.recv() == b"ba"
            await ws.send(b"")
            assert await ws.recv() == b""
            # fragmented, from a sync and an async iterable
            await ws.send(["frag", "men", "ted"])
            assert await ws.recv() == "fragmented"

            async def pieces():
                for p in (b"ab", b"", b"cd"):
                    yield p

            await ws.send(pieces())
            assert await ws.recv() == b"abcd"
            # over 1 MiB, random (incompressible) and repetitive (compressible)
            big = os.urandom((1 << 20) + 17)
            await ws.send(big)
            assert await ws.recv() == big
            text = "wskit " * 300000
            await ws.send(text)
            assert await ws.recv() == text


@pytest.mark.parametrize("peer", PEERS)
async def test_peer_closes_with_code(peer):
    need(peer)
    async with peer_server(peer) as url:
        async with wskit.connect(url) as ws:
            await ws.send("close:4001:bye")
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == 4001
            assert info.value.reason == "bye"
            await ws.wait_closed()
            assert ws.close_code == 4001
            assert ws.state is wskit.State.CLOSED


@pytest.mark.parametrize("peer", PEERS)
async def test_client_closes_with_code(peer):
    need(peer)
    async with peer_server(peer) as url:
        ws = await wskit.connect(url)
        await ws.close(4002, "done")
        assert ws.state is wskit.State.CLOSED
        # websockets and ws echo our code; aiohttp answers 1000
        assert ws.close_code == (1000 if peer == "aiohttp" else 4002)
        with pytest.raises(ConnectionClosedError):
            await ws.send("late")


@pytest.mark.parametrize("compression", [True, False], ids=["deflate", "plain"])
@pytest.mark.parametrize("peer", PEERS)
async def test_max_size_closes_with_1009(peer, compression):
    need(peer)
    async with peer_server(peer, compression) as url:
        comp = "deflate" if compression else None
        async with wskit.connect(url, compression=comp, max_size=1000) as ws:
            await ws.send("small")
            assert await ws.recv() == "small"
            # zeros: tiny on the wire when compressed, too big once inflated
            await ws.send(bytes(100000))
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.sent_code == 1009
            assert isinstance(info.value.__cause__, PayloadTooBig)


@pytest.mark.parametrize("peer", PEERS)
async def test_subprotocol_negotiated(peer):
    need(peer)
    async with peer_server(peer, subprotocols=["chat"]) as url:
        async with wskit.connect(url, subprotocols=["superchat", "chat"]) as ws:
            assert ws.subprotocol == "chat"
            assert ws.response.headers["Sec-WebSocket-Protocol"] == "chat"
