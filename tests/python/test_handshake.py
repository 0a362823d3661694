"""The opening handshake: process_request (plain HTTP answers and
refusals), subprotocols, origins, headers, URIs, timeouts, Unix sockets."""

import asyncio
import os
import tempfile

import pytest

import wskit
from helpers import aiohttp_server, port_of, wskit_echo, wskit_server
from wskit.exceptions import InvalidHandshake, InvalidStatus, InvalidURI


async def http_get(port, path="/"):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 5)  # the server closes after answering
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode(), body


async def test_process_request_answers_plain_http():
    def health(ws, request):
        if request.path == "/health":
            return wskit.Response(200, [("Content-Type", "text/plain")], b"OK\n")
        return None

    async with wskit_server(process_request=health) as (server, url):
        head, body = await http_get(port_of(server), "/health")
        assert head.startswith("HTTP/1.1 200 ")
        assert "Content-Type: text/plain" in head
        assert body == b"OK\n"
        async with wskit.connect(url) as ws:  # other paths still upgrade
            await ws.send("x")
            assert await ws.recv() == "x"


async def test_async_process_request_rejects_with_403():
    async def auth(ws, request):
        await asyncio.sleep(0.01)
        if request.headers.get("Authorization") != "Bearer good":
            return wskit.Response(403, body="go away\n")
        return None

    async with wskit_server(process_request=auth) as (server, url):
        with pytest.raises(InvalidStatus) as info:
            await wskit.connect(url)
        assert info.value.response.status == 403
        assert info.value.response.status_code == 403
        assert info.value.response.body == b"go away\n"
        async with wskit.connect(url, additional_headers={"Authorization": "Bearer good"}) as ws:
            await ws.send("in")
            assert await ws.recv() == "in"


async def test_process_request_rejection_seen_by_websockets():
    import websockets

    async with wskit_server(process_request=lambda ws, r: wskit.Response(403)) as (server, url):
        with pytest.raises(websockets.InvalidStatusCode) as info:
            await websockets.connect(url)
        assert info.value.status_code == 403


async def test_process_request_error_answers_500():
    def broken(ws, request):
        raise ValueError("bug")

    async with wskit_server(process_request=broken) as (server, url):
        with pytest.raises(InvalidStatus) as info:
            await wskit.connect(url)
        assert info.value.response.status == 500


async def test_request_details_reach_the_handler():
    seen = asyncio.get_running_loop().create_future()

    async def handler(ws):
        seen.set_result((ws.handshake_request.path, ws.handshake_request.headers["X-Token"],
                         ws.handshake_request.headers["User-Agent"], ws.handshake_request.headers["Origin"]))

    async with wskit_server(handler) as (server, url):
        async with wskit.connect(url + "chat?room=1", additional_headers=[("X-Token", "t1")],
                                 user_agent="bot/1", origin="https://example.com") as ws:
            assert ws.handshake_request.path == "/chat?room=1"
            assert ws.response.status == 101
            assert ws.response.headers["Server"].startswith("wskit/")
            await ws.wait_closed()
    assert await seen == ("/chat?room=1", "t1", "bot/1", "https://example.com")


async def test_no_user_agent():
    seen = asyncio.get_running_loop().create_future()

    async def handler(ws):
        seen.set_result("User-Agent" in ws.handshake_request.headers)

    async with wskit_server(handler) as (server, url):
        async with wskit.connect(url, user_agent=None) as ws:
            await ws.wait_closed()
    assert await seen is False


async def test_subprotocol_default_choice_and_none():
    async with wskit_server(subprotocols=["v2", "v1"]) as (server, url):
        async with wskit.connect(url, subprotocols=["v1", "v2"]) as ws:
            assert ws.subprotocol == "v1"  # the client's order decides
        async with wskit.connect(url, subprotocols=["v3"]) as ws:
            assert ws.subprotocol is None
        async with wskit.connect(url) as ws:
            assert ws.subprotocol is None


async def test_select_subprotocol():
    def pick_last(ws, offered):
        return offered[-1] if offered else None

    async with wskit_server(select_subprotocol=pick_last) as (server, url):
        async with wskit.connect(url, subprotocols=["a", "b", "c"]) as ws:
            assert ws.subprotocol == "c"
        async with wskit.connect(url) as ws:
            assert ws.subprotocol is None


async def test_origins_allowlist():
    async with wskit_server(origins=["https://good.example"]) as (server, url):
        async with wskit.connect(url, origin="https://good.example") as ws:
            assert ws.state is wskit.State.OPEN
        with pytest.raises(InvalidStatus) as info:
            await wskit.connect(url, origin="https://evil.example")
        assert info.value.response.status == 403
        with pytest.raises(InvalidStatus):
            await wskit.connect(url)


async def test_plain_http_server_is_an_invalid_status():
    async with aiohttp_server() as url:
        with pytest.raises(InvalidStatus) as info:
            await wskit.connect(url + "missing")
        assert info.value.response.status == 404


async def test_server_refuses_plain_get_with_426():
    async with wskit_server() as (server, url):
        head, body = await http_get(port_of(server))
        assert head.startswith("HTTP/1.1 426 ")
        assert "Sec-WebSocket-Version: 13" in head


async def test_open_timeout_on_a_silent_server():
    async def silent(reader, writer):
        await reader.read()

    tcp = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        with pytest.raises(asyncio.TimeoutError):
            await wskit.connect(f"ws://127.0.0.1:{port_of(tcp)}/", open_timeout=0.2)
    finally:
        tcp.close()
        await tcp.wait_closed()


async def test_server_open_timeout_drops_silent_clients():
    async with wskit_server(open_timeout=0.2) as (server, url):
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed without a word
        writer.close()


async def test_connection_lost_during_handshake():
    async def hang_up(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\n")
        writer.close()

    tcp = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    try:
        with pytest.raises(InvalidHandshake) as info:
            await wskit.connect(f"ws://127.0.0.1:{port_of(tcp)}/")
        assert isinstance(info.value.__cause__, EOFError)
    finally:
        tcp.close()
        await tcp.wait_closed()


def test_invalid_uris():
    for uri in ("http://example.com/", "ws://example.com:99999/", "ws://exa mple.com/",
                "example.com", "ws://example.com/#frag"):
        with pytest.raises(InvalidURI):
            wskit.connect(uri)
    with pytest.raises(ValueError):
        wskit.connect("ws://example.com/", ssl=True)


async def test_unix_socket():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "ws.sock")
        async with wskit.unix_serve(wskit_echo, path):
            async with wskit.unix_connect(path) as ws:
                await ws.send("over unix")
                assert await ws.recv() == "over unix"
                assert ws.handshake_request.headers["Host"] == "localhost"
