"""wskit.sse_connect(): our SSE client against our server's sse_path (ids
"<epoch>:<seq>", resume with Last-Event-ID after the stream is cut), and
against a hand-written chunked server (what nginx sends) that checks the
request, the retry field and the reconnect bound."""

import asyncio
import contextlib
import json
import os

import pytest

import wskit
from helpers import port_of

pytestmark = pytest.mark.timeout(30)


async def idle(ws):
    await ws.wait_closed()


async def publish(server, channel, data):
    r = server.publish(channel, data)
    if asyncio.iscoroutine(r):
        await r


async def wait_for(cond, timeout=5):
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def cutting_proxy(port):
    """A TCP relay to 127.0.0.1:port whose connections the test can cut."""
    links = []

    async def pipe(r, w):
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    break
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()

    async def handle(cr, cw):
        sr, sw = await asyncio.open_connection("127.0.0.1", port)
        links.append((cw, sw))
        await asyncio.gather(pipe(cr, sw), pipe(sr, cw))

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)

    def cut():
        for cw, sw in links:
            cw.transport.abort()
            sw.transport.abort()
        links.clear()

    try:
        yield cut, port_of(srv)
    finally:
        cut()
        srv.close()
        await srv.wait_closed()


@contextlib.asynccontextmanager
async def sse_server(**kw):
    async with wskit.serve(idle, "127.0.0.1", 0, sse_path="/events", **kw) as server:
        yield server, port_of(server)


async def collect(client, out, stop_after):
    async for ev in client:
        out.append(ev)
        if len(out) >= stop_after:
            return


async def test_events_of_a_channel_with_ids_and_kinds():
    async with sse_server() as (server, port):
        client = wskit.sse_connect(f"http://127.0.0.1:{port}/events?channel=news")
        got = []
        task = asyncio.ensure_future(collect(client, got, 3))
        try:
            await wait_for(lambda: client.connections == 1)
            await asyncio.sleep(0.05)
            await publish(server, "news", "hello\nworld")
            await publish(server, "news", {"a": 1})
            await publish(server, "news", b"\x00\x01\x02")
            await asyncio.wait_for(task, 10)
        finally:
            task.cancel()
        assert [e.data for e in got] == ["hello\nworld", '{"a":1}', "AAEC"]
        assert [e.seq for e in got] == [1, 2, 3]
        assert all(e.type == "message" and e.channel == "news" and e.epoch for e in got)
        assert got[0].id == f"{got[0].epoch}:1"


async def test_resume_with_last_event_id_after_the_stream_is_cut():
    async with sse_server(sse_retry=0.1) as (server, port), cutting_proxy(port) as (cut, pport):
        client = wskit.sse_connect(f"http://127.0.0.1:{pport}/events?channel=feed")
        got = []
        task = asyncio.ensure_future(collect(client, got, 6))
        try:
            await wait_for(lambda: client.connections == 1)
            await asyncio.sleep(0.05)
            for i in (1, 2, 3):
                await publish(server, "feed", f"e{i}")
            await wait_for(lambda: len(got) == 3)
            cut()
            for i in (4, 5):  # while the client is away
                await publish(server, "feed", f"e{i}")
            await wait_for(lambda: client.connections == 2)
            await publish(server, "feed", "e6")
            await asyncio.wait_for(task, 10)
        finally:
            task.cancel()
        assert [(e.seq, e.data) for e in got] == [(i, f"e{i}") for i in range(1, 7)]
        assert client.retry == pytest.approx(0.1)  # the server's retry field


async def test_last_event_id_given_at_the_start():
    async with sse_server() as (server, port):
        for i in range(1, 5):
            await publish(server, "h", f"x{i}")
        # learn the epoch from a first stream, then start a new client from 2
        first = wskit.sse_connect(f"http://127.0.0.1:{port}/events?channel=h",
                                  last_event_id="not-an-id")
        got = []
        task = asyncio.ensure_future(collect(first, got, 1))
        try:
            await wait_for(lambda: first.connections == 1)
            await asyncio.sleep(0.05)
            await publish(server, "h", "x5")
            await asyncio.wait_for(task, 10)
        finally:
            task.cancel()
        epoch = got[0].epoch
        assert got[0].seq == 5  # an unknown id starts from now
        client = wskit.sse_connect(f"http://127.0.0.1:{port}/events?channel=h",
                                   last_event_id=f"{epoch}:2")
        got = []
        await asyncio.wait_for(collect(client, got, 3), 10)
        assert [e.data for e in got] == ["x3", "x4", "x5"]


async def test_refusals_are_not_retried():
    async with sse_server() as (server, port):
        with pytest.raises(wskit.InvalidStatus) as e:
            async for _ in wskit.sse_connect(f"http://127.0.0.1:{port}/nowhere"):
                pass
        assert e.value.response.status >= 400
    with pytest.raises(wskit.InvalidURI):
        wskit.sse_connect("ws://127.0.0.1/events")


@contextlib.asynccontextmanager
async def chunked_sse(script):
    """A hand-written SSE server: each connection gets script(n, request)
    as a list of body pieces, sent chunked, then the end of the body."""
    requests = []

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        requests.append(head.decode())
        pieces = script(len(requests), head.decode())
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        for p in pieces:
            if p == "pause":
                await writer.drain()
                await asyncio.sleep(0.05)
                continue
            b = p.encode()
            writer.write(b"%x\r\n%s\r\n" % (len(b), b))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield port_of(srv), requests
    finally:
        srv.close()
        await srv.wait_closed()


async def test_chunked_stream_reconnects_with_last_event_id_and_stops_at_max_retries():
    def script(n, request):
        if n == 1:  # an event split across chunks and writes, a comment, a retry
            return ["retry: 50\n", ": heartbeat\n\n", "id: E:1\nda", "pause", "ta: one\n",
                    "data: two\n\n", "event: gap\nid: E:2\ndata: {\"from\":2}\n\n"]
        if n <= 3:
            return [f"id: E:{n + 1}\ndata: again {n}\n\n"]
        return [": no more events\n\n"]

    async with chunked_sse(script) as (port, requests):
        client = wskit.sse_connect(f"http://127.0.0.1:{port}/s?channel=c", max_retries=2)
        got = [e async for e in client]  # ends: each stream ends cleanly, 2 retries
        assert [(e.type, e.data, e.id) for e in got] == [
            ("message", "one\ntwo", "E:1"), ("gap", '{"from":2}', "E:2"),
            ("message", "again 2", "E:3"), ("message", "again 3", "E:4")]
        assert json.loads(got[1].data) == {"from": 2}
        assert got[0].seq == 1 and got[0].epoch == "E" and got[0].channel == "c"
        # an event resets the count: streams 4 and 5 end empty, then it stops
        assert len(requests) == 5
        assert "Accept: text/event-stream" in requests[0]
        assert "Last-Event-ID" not in requests[0]
        assert "Last-Event-ID: E:2" in requests[1]
        assert "Last-Event-ID: E:3" in requests[2]
        assert client.retry == pytest.approx(0.05)


async def test_reconnect_bound_raises_the_last_error():
    # nothing listens there: every attempt is refused
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = port_of(srv)
    srv.close()
    await srv.wait_closed()
    client = wskit.sse_connect(f"http://127.0.0.1:{port}/events?channel=x", retry=0.01,
                               max_retries=2)
    with pytest.raises(OSError):
        async for _ in client:
            pass


NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
  uwsgi_temp_path {dir}; scgi_temp_path {dir};
  server {{
    listen 127.0.0.1:{port};
    # the SSE settings of docs/sse.md: HTTP/1.1 upstream, no buffering
    location /events {{
      proxy_pass http://127.0.0.1:{backend};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_cache off;
      proxy_read_timeout 1h;
    }}
  }}
}}
"""


@contextlib.asynccontextmanager
async def nginx(backend):
    import shutil
    import tempfile
    from redis_server import free_port
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(exe), "nginx is not installed (Debian: nginx)"
    d = tempfile.mkdtemp(prefix="wskit-nginx-")
    port = free_port()
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(dir=d, port=port, backend=backend))
    proc = await asyncio.create_subprocess_exec(
        exe, "-p", d, "-c", os.path.join(d, "nginx.conf"),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        for _ in range(200):  # up to 10 s for it to listen
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                assert proc.returncode is None, open(os.path.join(d, "error.log")).read()
                await asyncio.sleep(0.05)
        yield port
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        shutil.rmtree(d, ignore_errors=True)


async def test_through_nginx_chunked_and_resumed():
    async with sse_server(sse_retry=0.1) as (server, port), \
            cutting_proxy(port) as (cut, pport), nginx(pport) as nport:
        client = wskit.sse_connect(f"http://127.0.0.1:{nport}/events?channel=n")
        got = []
        task = asyncio.ensure_future(collect(client, got, 4))
        try:
            await wait_for(lambda: client.connections == 1)
            assert client.chunked  # nginx re-frames the stream in chunks
            await asyncio.sleep(0.05)
            await publish(server, "n", "a" * 5000)  # over several chunks and reads
            await publish(server, "n", "b")
            await wait_for(lambda: len(got) == 2)
            cut()  # between nginx and wskit: nginx ends the response, the client comes back
            await publish(server, "n", "c")
            await wait_for(lambda: client.connections == 2)
            await publish(server, "n", "d")
            await asyncio.wait_for(task, 10)
        finally:
            task.cancel()
        assert [(e.seq, e.data) for e in got] == [(1, "a" * 5000), (2, "b"), (3, "c"), (4, "d")]


def test_parser_limits_and_broken_framing():
    p = wskit._core.SseParser(max_event=64)
    p.feed(b"data: " + b"x" * 50 + b"\n\n")  # under the bound
    assert p.next() == ("message", "x" * 50, "", -1)
    with pytest.raises(ValueError, match="max_event"):
        p.feed(b"data: " + b"y" * 100)
    with pytest.raises(ValueError):  # unusable after that
        p.feed(b"\n\n")
    with pytest.raises(ValueError, match="chunked"):
        wskit._core.SseParser(chunked=True).feed(b"zz\r\n")


async def test_an_event_over_max_event_breaks_the_stream():
    async with chunked_sse(lambda n, req: ["data: " + "z" * 300 + "\n\n"]) as (port, requests):
        client = wskit.sse_connect(f"http://127.0.0.1:{port}/s", max_event=128, retry=0.01,
                                   max_retries=1)
        with pytest.raises(ValueError, match="max_event"):
            async for _ in client:
                pass
        assert len(requests) == 2  # tried again once, then gave up
