"""The SSE endpoint on the server's own port (sse_path), read with a raw
HTTP client so the exact bytes of the stream are checked: head, retry,
ids, data lines, gap events, Last-Event-ID resume, heartbeats."""

import asyncio
import base64
import contextlib
import json

import pytest
import websockets

import wskit

from helpers import port_of

HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"X-Accel-Buffering: no\r\nConnection: close\r\n\r\n")


@contextlib.asynccontextmanager
async def sse_server(**kwargs):
    kwargs.setdefault("sse_path", "/events")
    kwargs.setdefault("channels_path", "/channels")
    async with wskit.serve(None, "127.0.0.1", 0, **kwargs) as server:
        yield server, port_of(server)


class Stream:
    """A raw HTTP/1.1 GET, and the body read up to what we expect."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port, target, headers=()):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}",
                 "Accept: text/event-stream"] + [f"{k}: {v}" for k, v in headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return cls(reader, writer)

    async def expect(self, data, timeout=5):
        got = await asyncio.wait_for(self.reader.readexactly(len(data)), timeout)
        assert got == data
        return got

    async def read_until(self, sep, timeout=5):
        return await asyncio.wait_for(self.reader.readuntil(sep), timeout)

    async def status(self):
        return await self.read_until(b"\r\n\r\n")

    def close(self):
        self.writer.close()


async def wait_for(cond, timeout=5):
    for _ in range(int(timeout / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def test_stream_head_retry_events_and_payload_kinds():
    async with sse_server(sse_retry=1.5) as (server, port):
        s = await Stream.open(port, "/events?channel=news")
        await s.expect(HEAD + b"retry: 1500\n\n")
        await wait_for(lambda: server._hub.core.count("news") == 1)
        server.publish("news", "hello\nworld")
        server.publish("news", b"\x00\xff")
        server.publish("news", {"a": 1})
        epoch = server._hub.core.position("news")[0]
        await s.expect(f"id: {epoch}:1\ndata: hello\ndata: world\n\n".encode())
        b64 = base64.b64encode(b"\x00\xff").decode()
        await s.expect(f"id: {epoch}:2\ndata: {b64}\n\n".encode())
        await s.expect(f'id: {epoch}:3\ndata: {{"a":1}}\n\n'.encode())
        s.close()
        await wait_for(lambda: server._hub.core.count("news") == 0)


async def test_json_and_sse_subscribers_share_a_channel():
    async with sse_server() as (server, port):
        s = await Stream.open(port, "/events?channel=room")
        await s.expect(HEAD + b"retry: 2000\n\n")
        async with websockets.connect(f"ws://127.0.0.1:{port}/channels") as ws:
            await ws.send(json.dumps({"type": "subscribe", "channel": "room"}))
            epoch = json.loads(await ws.recv())["epoch"]
            await wait_for(lambda: server._hub.core.count("room") == 2)
            await ws.send(json.dumps({"type": "publish", "channel": "room", "data": "from ws"}))
            await s.expect(f"id: {epoch}:1\ndata: from ws\n\n".encode())
        s.close()


async def test_last_event_id_resumes_from_the_history():
    async with sse_server() as (server, port):
        for i in range(1, 6):
            server.publish("feed", f"m{i}")
        epoch = server._hub.core.position("feed")[0]
        s = await Stream.open(port, "/events?channel=feed", [("Last-Event-ID", f"{epoch}:3")])
        await s.expect(HEAD + b"retry: 2000\n\n")
        await s.expect(f"id: {epoch}:4\ndata: m4\n\nid: {epoch}:5\ndata: m5\n\n".encode())
        server.publish("feed", "m6")
        await s.expect(f"id: {epoch}:6\ndata: m6\n\n".encode())
        s.close()
        # the same through the query string (EventSource polyfills)
        s = await Stream.open(port, f"/events?channel=feed&lastEventId={epoch}:5")
        await s.expect(HEAD + b"retry: 2000\n\n" + f"id: {epoch}:6\ndata: m6\n\n".encode())
        s.close()


async def test_resume_past_the_history_sends_a_gap_event():
    async with sse_server(history_size=2) as (server, port):
        for i in range(1, 7):
            server.publish("g", str(i))
        epoch = server._hub.core.position("g")[0]
        s = await Stream.open(port, "/events?channel=g", [("Last-Event-ID", f"{epoch}:1")])
        await s.expect(HEAD + b"retry: 2000\n\n")
        gap = json.dumps({"type": "gap", "channel": "g", "epoch": epoch, "from": 2, "to": 4,
                          "reason": "expired"}, separators=(",", ":"))
        await s.expect(f"id: {epoch}:4\nevent: gap\ndata: {gap}\n\n".encode())
        await s.expect(f"id: {epoch}:5\ndata: 5\n\nid: {epoch}:6\ndata: 6\n\n".encode())
        s.close()


async def test_unknown_or_invalid_ids_start_from_now():
    async with sse_server() as (server, port):
        server.publish("n", "old")
        for bad in ["garbage", "other-epoch:1"]:
            s = await Stream.open(port, "/events?channel=n", [("Last-Event-ID", bad)])
            await s.expect(HEAD + b"retry: 2000\n\n")
            if bad == "other-epoch:1":  # a known form in another epoch: told, then live
                assert b"event: gap" in await s.read_until(b"\n\n")
            await wait_for(lambda: server._hub.core.count("n") == 1)
            server.publish("n", "new")
            chunk = await s.read_until(b"\n\n")
            assert chunk.endswith(b"data: new\n\n") and b"old" not in chunk
            s.close()
            await wait_for(lambda: server._hub.core.count("n") == 0)


async def test_heartbeat_comments_at_the_interval():
    async with sse_server(sse_heartbeat=0.1) as (server, port):
        s = await Stream.open(port, "/events?channel=hb")
        await s.expect(HEAD + b"retry: 2000\n\n")
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(3):
            await s.expect(b":\n\n", timeout=2)
        assert 0.25 <= loop.time() - start < 2
        s.close()


async def test_bad_requests_get_plain_http_answers():
    async with sse_server(authorize=lambda conn, action, ch: ch != "private") as (server, port):
        s = await Stream.open(port, "/events")
        assert (await s.status()).startswith(b"HTTP/1.1 400 ")
        s.close()
        s = await Stream.open(port, "/events?channel=private")
        assert (await s.status()).startswith(b"HTTP/1.1 403 ")
        s.close()


async def test_server_close_ends_the_streams():
    async with sse_server() as (server, port):
        s = await Stream.open(port, "/events?channel=bye")
        await s.expect(HEAD + b"retry: 2000\n\n")
        await wait_for(lambda: server._hub.core.count("bye") == 1)
        server.close()
        assert await asyncio.wait_for(s.reader.read(), 5) == b""  # EOF
        await asyncio.wait_for(server.wait_closed(), 5)
        s.close()


async def test_a_stream_too_far_behind_is_closed(monkeypatch):
    import wskit.sse
    monkeypatch.setattr(wskit.sse, "MAX_LAG", 100_000)
    async with sse_server() as (server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**16)
        writer.transport.pause_reading()  # a reader that stopped reading
        writer.write(f"GET /events?channel=flood HTTP/1.1\r\nHost: x:{port}\r\n\r\n".encode())
        await wait_for(lambda: server._hub.core.count("flood") == 1)
        payload = "y" * 50_000
        for _ in range(400):
            server.publish("flood", payload)
            await asyncio.sleep(0)
            if server._hub.core.count("flood") == 0:
                break
        await wait_for(lambda: server._hub.core.count("flood") == 0)
        assert not server._hub.sse._timers  # forgotten
        writer.close()


async def test_a_websocket_upgrade_on_the_sse_path_is_not_a_stream():
    async with sse_server() as (server, port):
        with pytest.raises(wskit.InvalidStatus) as info:  # no handler: 404
            await wskit.connect(f"ws://127.0.0.1:{port}/events?channel=x")
        assert info.value.response.status == 404


async def test_authenticate_and_authorize_guard_streams():
    def authenticate(ws, request):
        token = dict(p.split("=", 1) for p in request.path.partition("?")[2].split("&")
                     if "=" in p).get("token")
        return {"name": "ann"} if token == "good" else None

    seen = []

    def authorize(ws, action, channel):
        seen.append((ws.user, action, channel))
        return True

    async with sse_server(authenticate=authenticate, authorize=authorize) as (server, port):
        s = await Stream.open(port, "/events?channel=a&token=bad")
        assert (await s.status()).startswith(b"HTTP/1.1 401 ")
        s.close()
        s = await Stream.open(port, "/events?channel=a&token=good")
        await s.expect(HEAD + b"retry: 2000\n\n")
        assert seen == [({"name": "ann"}, "subscribe", "a")]
        s.close()


async def test_hosts_allowlist_and_method_apply_to_streams():
    async with sse_server(hosts=["good.example"]) as (server, port):
        s = await Stream.open(port, "/events?channel=a")  # Host: 127.0.0.1:port
        assert (await s.status()).startswith(b"HTTP/1.1 403 ")
        s.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /events?channel=a HTTP/1.1\r\nHost: good.example\r\n\r\n")
        s = Stream(reader, writer)
        await s.expect(HEAD + b"retry: 2000\n\n")
        s.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /events?channel=a HTTP/1.1\r\nHost: good.example\r\n"
                     b"Content-Length: 0\r\n\r\n")
        s = Stream(reader, writer)
        assert (await s.status()).startswith(b"HTTP/1.1 400 ")
        s.close()


async def test_events_are_the_cores_bytes_gap_id_included():
    # every driver sends what wsk_sse_hub_event makes: a gap always carries
    # the id "<epoch>:<to>", even an epoch gap on an empty channel (to 0)
    async with sse_server() as (server, port):
        server.publish("e", b"\x00\xffbin")
        epoch = server._hub.core.position("e")[0]
        s = await Stream.open(port, "/events?channel=e", [("Last-Event-ID", f"{epoch}:0")])
        await s.expect(HEAD + b"retry: 2000\n\n")
        b64 = base64.b64encode(b"\x00\xffbin").decode()
        await s.expect(f"id: {epoch}:1\ndata: {b64}\n\n".encode())
        s.close()
        s = await Stream.open(port, "/events?channel=empty", [("Last-Event-ID", "old-epoch:3")])
        await s.expect(HEAD + b"retry: 2000\n\n")
        chunk = await s.read_until(b"\n\n")
        epoch = server._hub.core.position("empty")[0]
        gap = json.dumps({"type": "gap", "channel": "empty", "epoch": epoch, "from": 1, "to": 0,
                          "reason": "epoch"}, separators=(",", ":"))
        assert chunk == f"id: {epoch}:0\nevent: gap\ndata: {gap}\n\n".encode()
        s.close()
