"""Channels beyond one process on the libuv driver (issue 6): the C server
(tests/uv/peer_channels.c) serving the JSON channel protocol, raw
subscribers and SSE, driven by python3-websockets and raw HTTP; two C
servers sharing a real redis-server; the C reconnecting client
(examples/c/client.c) resuming; auth patterns, rate and per-IP limits."""
import asyncio
import json
import os
import socket
import subprocess
import time

import pytest
import websockets

from conftest import arun, free_port, start_example


# ---- fixtures ----

@pytest.fixture
def servers():
    procs = []

    def make(*args, port=0):
        p = start_example("peer_channels", port, *args, stdin=True)
        p.port = int(p.wait_line(lambda l: l.startswith("listening ")).split()[1])
        procs.append(p)
        return p

    yield make
    for p in procs:
        p.stop()


class Redis:
    def __init__(self):
        self.port = free_port()
        self.p = None
        self.start()

    def start(self):
        self.p = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait(5)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def redis():
    r = Redis()
    yield r
    r.kill()


def wsurl(srv, path="/channels", query=""):
    return f"ws://127.0.0.1:{srv.port}{path}{query}"


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def nothing_more(ws, wait=0.3):
    """No further message arrives within `wait` seconds."""
    try:
        m = await asyncio.wait_for(ws.recv(), wait)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"unexpected message {m!r}")


async def subscribe(ws, channel, **kw):
    await ws.send(json.dumps(dict(type="subscribe", channel=channel, **kw)))
    m = await recv_json(ws)
    assert m["type"] == "subscribed", m
    return m


def publish_cmd(srv, channel, data, kind="t"):
    start = len(srv.lines)
    srv.send(f"publish {channel} {kind} {data}")
    line = srv.wait_line(lambda l: l.startswith(("published", "publish-error")), start=start)
    return line


def sse_open(port, target, headers=""):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
    s.settimeout(5)
    return s


def read_until(s, needle, timeout=5):
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not in {buf!r}")
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError(f"closed before {needle!r}; got {buf!r}")
        buf += chunk
    return buf


def http_status(port, request):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.sendall(request.encode())
    s.settimeout(5)
    data = s.recv(4096)
    s.close()
    return int(data.split()[1])


def upgrade(path, host):
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


# ---- one server, no backplane ----

def test_protocol_publish_and_resume_exactly_once(servers):
    srv = servers("--channels", "/channels", "--history", "5")

    async def go():
        async with websockets.connect(wsurl(srv)) as a, websockets.connect(wsurl(srv)) as b:
            sub = await subscribe(a, "news", id=7)
            assert sub["id"] == 7 and sub["seq"] == 0 and sub["recovered"] is False
            await b.send(json.dumps({"type": "publish", "channel": "news", "data": "hello", "id": "p1"}))
            assert await recv_json(b) == {"type": "published", "channel": "news", "seq": 1, "id": "p1"}
            m = await recv_json(a)
            assert (m["type"], m["seq"], m["data"], m["epoch"]) == ("message", 1, "hello", sub["epoch"])
            # from the application: JSON and binary kinds
            assert publish_cmd(srv, "news", '{"k":[1,2]}', "j") == "published seq=2"
            assert (await recv_json(a))["data"] == {"k": [1, 2]}
            assert publish_cmd(srv, "news", "bytes", "b") == "published seq=3"
            m = await recv_json(a)
            assert m["binary"] is True and m["data"] == "Ynl0ZXM="
            await nothing_more(a)
            epoch = sub["epoch"]
        # the subscriber went away; two more were published meanwhile
        assert publish_cmd(srv, "news", "four") == "published seq=4"
        assert publish_cmd(srv, "news", "five") == "published seq=5"
        async with websockets.connect(wsurl(srv)) as a:
            sub = await subscribe(a, "news", since=3, epoch=epoch)
            assert sub["recovered"] is True and sub["seq"] == 5
            got = [(await recv_json(a))["data"] for _ in range(2)]
            assert got == ["four", "five"]
            await nothing_more(a)
            # older than the history (5 kept): an explicit gap, then what is kept
            for i in range(6, 9):
                publish_cmd(srv, "news", f"m{i}")
        async with websockets.connect(wsurl(srv)) as a:
            await a.send(json.dumps({"type": "subscribe", "channel": "news", "since": 1, "epoch": epoch}))
            frames = [await recv_json(a) for _ in range(7)]
            assert frames[0]["type"] == "subscribed" and frames[0]["recovered"] is False
            gap = frames[1]
            assert gap["type"] == "gap" and gap["reason"] == "expired" and gap["from"] == 2 and gap["to"] == 3
            assert [f["seq"] for f in frames[2:]] == [4, 5, 6, 7, 8]
    arun(go())


def test_history_replay_larger_than_the_write_limit(servers):
    srv = servers("--channels", "/channels", "--history", "100")
    big = "x" * 3000  # 100 of them: ten times the default 32 KiB write limit
    for i in range(100):
        srv.send(f"publish big t {i} {big}")
    srv.wait_line(lambda l: l == "published seq=100", timeout=20)

    async def go():
        async with websockets.connect(wsurl(srv)) as a:
            sub = await subscribe(a, "big", since=0, epoch="")
            assert sub["seq"] == 100
            got = [await recv_json(a) for _ in range(100)]
            assert [m["seq"] for m in got] == list(range(1, 101))
            assert got[99]["data"] == f"99 {big}"
            await nothing_more(a)
    arun(go())


def test_a_subscriber_too_far_behind_is_closed_1013(servers):
    srv = servers("--channels", "/channels", "--close-timeout", "5000")
    data = "y" * 60000

    async def go():
        async with websockets.connect(wsurl(srv), max_queue=1, max_size=None) as slow, \
                websockets.connect(wsurl(srv)) as fine:
            await subscribe(slow, "flood")
            # the slow one stops reading: kernel buffers, then 2 MiB queued, then closed
            for i in range(300):
                srv.send(f"publish flood t {data}")
            srv.wait_line(lambda l: l == "published seq=300", timeout=60)
            # others are served meanwhile
            await subscribe(fine, "other")
            n = 0
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                for _ in range(301):
                    await asyncio.wait_for(slow.recv(), 10)
                    n += 1
            assert slow.close_code == 1013
            assert 0 < n < 300
    arun(go(), timeout=90)


def test_protocol_errors_and_authorize(servers):
    srv = servers("--channels", "/channels", "--deny", "secret")
    srv2 = servers("--channels", "/channels", "--no-client-publish")

    async def go():
        async with websockets.connect(wsurl(srv)) as a:
            await a.send("not json")
            assert (await recv_json(a))["code"] == "bad_request"
            await a.send(b"\x00binary")
            assert (await recv_json(a))["code"] == "bad_request"
            await a.send(json.dumps({"type": "unsubscribe", "channel": "nope", "id": 3}))
            m = await recv_json(a)
            assert m["code"] == "not_subscribed" and m["id"] == 3
            await a.send(json.dumps({"type": "subscribe", "channel": "secret-room"}))
            assert (await recv_json(a))["code"] == "forbidden"
            await a.send(json.dumps({"type": "publish", "channel": "secret-room", "data": "x"}))
            assert (await recv_json(a))["code"] == "forbidden"
            await subscribe(a, "open")
            await a.send(json.dumps({"type": "unsubscribe", "channel": "open", "id": 4}))
            assert await recv_json(a) == {"type": "unsubscribed", "channel": "open", "id": 4}
            # over the per-connection channel limit (the hub's, 100)
            for i in range(100):
                await a.send(json.dumps({"type": "subscribe", "channel": f"c{i}"}))
            for i in range(100):
                assert (await recv_json(a))["type"] == "subscribed"
            await a.send(json.dumps({"type": "subscribe", "channel": "one-too-many"}))
            assert (await recv_json(a))["code"] == "too_many_channels"
        async with websockets.connect(wsurl(srv2)) as b:
            await b.send(json.dumps({"type": "publish", "channel": "x", "data": "x"}))
            assert (await recv_json(b))["code"] == "forbidden"
    arun(go())


def test_raw_and_sse_subscribers_get_publishes(servers):
    srv = servers("--channels", "/channels", "--sse", "/events", "--heartbeat", "200", "--deny", "secret")

    async def go():
        async with websockets.connect(wsurl(srv, "/app")) as raw, websockets.connect(wsurl(srv)) as js:
            await raw.send("/join news")
            assert await raw.recv() == "joined 1"
            await raw.send("/join news")
            assert await raw.recv() == "joined 0"
            await subscribe(js, "news")
            s = sse_open(srv.port, "/events?channel=news")
            head = read_until(s, b"retry: 2000\n\n")
            assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head
            assert publish_cmd(srv, "news", "hi") == "published seq=1"
            assert await raw.recv() == "hi"
            assert (await recv_json(js))["data"] == "hi"
            ev = read_until(s, b"data: hi\n\n")
            epoch = ev.split(b"id: ")[1].split(b":")[0].decode()
            assert publish_cmd(srv, "news", "bin", "b") == "published seq=2"
            assert await raw.recv() == b"bin"
            read_until(s, b"data: Ymlu\n\n")  # binary as base64
            # heartbeat comments keep proxies from timing out
            read_until(s, b"\n:", timeout=2)
            s.close()
            # Last-Event-ID resume, from the header and from the query
            s = sse_open(srv.port, "/events?channel=news", f"Last-Event-ID: {epoch}:1\r\n")
            read_until(s, f"id: {epoch}:2\ndata: Ymlu\n\n".encode())
            s.close()
            s = sse_open(srv.port, f"/events?channel=news&lastEventId={epoch}:0")
            read_until(s, f"id: {epoch}:2\n".encode())
            s.close()
            # an unknown id: from now on
            s = sse_open(srv.port, "/events?channel=news", "Last-Event-ID: garbage\r\n")
            buf = read_until(s, b"retry: 2000\n\n")
            publish_cmd(srv, "news", "later")
            buf += read_until(s, b"data: later\n\n")
            assert b"data: hi" not in buf
            s.close()
        # refusals: no channel 400, a channel the authorize hook refuses 403
        assert http_status(srv.port, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n") == 400
        assert http_status(srv.port, "GET /events?channel=secret HTTP/1.1\r\nHost: x\r\n\r\n") == 403
        # control characters are no channel name (a %00 would also have cut
        # "secret%00x" to "secret" for C strings): 400, before the hook
        for bad in ("secret%00x", "a%01b", "a%7Fb", "x%0Ay"):
            assert http_status(srv.port, f"GET /events?channel={bad} HTTP/1.1\r\nHost: x\r\n\r\n") == 400, bad
        big = "c" * 1025  # over the core's longest name
        assert http_status(srv.port, f"GET /events?channel={big} HTTP/1.1\r\nHost: x\r\n\r\n") == 400
    arun(go())


def test_sse_gap_event_carries_the_resume_id(servers):
    """A gap on an event stream is the core's event (wsk_sse_hub_event):
    `event: gap` with the hub's JSON and id "<epoch>:<to>", so a reader
    that reconnects resumes after what is gone instead of asking again."""
    srv = servers("--channels", "/channels", "--sse", "/events", "--history", "2")

    async def go():
        async with websockets.connect(wsurl(srv)) as a:
            epoch = (await subscribe(a, "news"))["epoch"]
        for i in range(1, 6):
            assert publish_cmd(srv, "news", f"m{i}") == f"published seq={i}"
        s = sse_open(srv.port, "/events?channel=news", f"Last-Event-ID: {epoch}:1\r\n")
        buf = read_until(s, f"id: {epoch}:5\ndata: m5\n\n".encode())
        s.close()
        events = [e for e in buf.split(b"\r\n\r\n", 1)[1].decode().split("\n\n") if e]
        assert events[0] == "retry: 2000"
        gap = dict(line.split(": ", 1) for line in events[1].split("\n"))
        assert gap["event"] == "gap" and gap["id"] == f"{epoch}:3", events
        g = json.loads(gap["data"])
        assert (g["type"], g["channel"], g["from"], g["to"], g["reason"]) == ("gap", "news", 2, 3, "expired")
        assert events[2:] == [f"id: {epoch}:4\ndata: m4", f"id: {epoch}:5\ndata: m5"]
        # resuming from the gap's id: nothing is asked for again
        s = sse_open(srv.port, "/events?channel=news", f"Last-Event-ID: {epoch}:3\r\n")
        buf = read_until(s, f"id: {epoch}:5\ndata: m5\n\n".encode())
        s.close()
        assert b"event: gap" not in buf and b"data: m4" in buf
    arun(go())


# ---- two servers sharing Redis ----

def test_backplane_two_instances_exactly_once_and_resume(servers, redis):
    s1 = servers("--channels", "/channels", "--sse", "/events", "--redis", redis.url)
    s2 = servers("--channels", "/channels", "--redis", redis.url)
    for s in (s1, s2):
        s.wait_line(lambda l: "backplane: connected to redis" in l)

    async def go():
        async with websockets.connect(wsurl(s1)) as a, websockets.connect(wsurl(s2)) as b, \
                websockets.connect(wsurl(s2, "/app")) as raw:
            ea = (await subscribe(a, "room"))["epoch"]
            eb = (await subscribe(b, "room"))["epoch"]
            assert ea == eb  # one epoch, kept in Redis
            await raw.send("/join room")
            assert await raw.recv() == "joined 1"
            await asyncio.sleep(0.2)  # the raw subscriber's position comes from Redis
            sse = sse_open(s1.port, "/events?channel=room")
            read_until(sse, b"retry: 2000\n\n")
            assert publish_cmd(s1, "room", "one") == "published seq=1"
            await b.send(json.dumps({"type": "publish", "channel": "room", "data": "two", "id": 1}))
            got_a = [(await recv_json(a))["data"] for _ in range(2)]
            got_b = []
            while len(got_b) < 3:
                got_b.append(await recv_json(b))
            assert got_a == ["one", "two"]
            assert [m["data"] for m in got_b if m["type"] == "message"] == ["one", "two"]
            assert {"type": "published", "channel": "room", "seq": 2, "id": 1} in got_b
            assert [await raw.recv(), await raw.recv()] == ["one", "two"]
            read_until(sse, f"id: {ea}:2\ndata: two\n\n".encode())
            sse.close()
            await nothing_more(a)
            await nothing_more(b)
        # resume on the other instance: history lives in Redis
        publish_cmd(s2, "room", "three")
        async with websockets.connect(wsurl(s1)) as c:
            sub = await subscribe(c, "room", since=1, epoch=ea)
            assert sub["recovered"] is True and sub["seq"] == 3
            assert [(await recv_json(c))["data"] for _ in range(2)] == ["two", "three"]
            await nothing_more(c)
    arun(go())


def test_backplane_survives_redis_restart(servers, redis):
    s1 = servers("--channels", "/channels", "--redis", redis.url)
    s2 = servers("--channels", "/channels", "--redis", redis.url)
    for s in (s1, s2):
        s.wait_line(lambda l: "backplane: connected to redis" in l)

    async def go():
        async with websockets.connect(wsurl(s1)) as a, websockets.connect(wsurl(s2)) as b, \
                websockets.connect(wsurl(s1, "/app")) as app:
            await subscribe(a, "room")
            await subscribe(b, "room")
            assert publish_cmd(s1, "room", "before") == "published seq=1"
            assert (await recv_json(a))["data"] == "before"
            assert (await recv_json(b))["data"] == "before"
            mark = [len(s1.lines), len(s2.lines)]
            redis.kill()
            for s, m in zip((s1, s2), mark):
                s.wait_line(lambda l: "backplane: lost redis" in l, start=m)
            # local clients are still served; publishing says why it cannot
            await app.send("echo me")
            assert await app.recv() == "echo me"
            assert publish_cmd(s1, "room", "lost") == "publish-error EIO"
            await a.send(json.dumps({"type": "publish", "channel": "room", "data": "x"}))
            assert (await recv_json(a))["code"] == "unavailable"
            redis.start()
            for s, m in zip((s1, s2), mark):
                s.wait_line(lambda l: "backplane: resubscribed to redis" in l, start=m, timeout=15)
            # Redis came back empty: the subscribers are told (a new epoch), then live again
            ga, gb = await recv_json(a), await recv_json(b)
            assert ga["type"] == gb["type"] == "gap" and ga["reason"] == "epoch"
            assert publish_cmd(s2, "room", "after") == "published seq=1"
            assert (await recv_json(a))["data"] == "after"
            assert (await recv_json(b))["data"] == "after"
            await nothing_more(a)
    arun(go(), timeout=60)


def test_backplane_failed_resync_is_retried(servers, redis):
    """A resync whose fetch fails while connected (here WRONGTYPE: the
    channel's meta key made a list) must not leave the subscribers
    recovering for ever (live messages held, then dropped): it is logged,
    counted as a lost connection and tried again after the backoff; once
    Redis answers, the subscriber is told what changed and live again."""
    import redis as redislib
    r = redislib.Redis(host="127.0.0.1", port=redis.port)
    s1 = servers("--channels", "/channels", "--redis", redis.url)
    s1.wait_line(lambda l: "backplane: connected to redis" in l)

    async def go():
        async with websockets.connect(wsurl(s1)) as a:
            await subscribe(a, "room")
            assert publish_cmd(s1, "room", "before") == "published seq=1"
            assert (await recv_json(a))["data"] == "before"
            r.delete("wskit:meta:room")
            r.rpush("wskit:meta:room", "x")  # the recover script's HGET now fails
            mark = len(s1.lines)
            assert r.client_kill_filter(_type="pubsub") >= 1  # the server sees a loss
            failed = lambda l: "backplane: resync of room failed" in l and "WRONGTYPE" in l
            first = s1.wait_line(failed, start=mark, timeout=15)
            # retried after the backoff, failing again as long as Redis does
            s1.wait_line(failed, start=s1.lines.index(first) + 1, timeout=15)
            assert any("backplane: lost redis" in l and "resync failed" in l for l in s1.lines[mark:])
            r.delete("wskit:meta:room")
            deadline = time.monotonic() + 15
            while publish_cmd(s1, "room", "after") != "published seq=1":
                assert time.monotonic() < deadline, "publishing never worked again"
                await asyncio.sleep(0.2)
            got = []
            while not got or got[-1].get("data") != "after":
                got.append(await recv_json(a, timeout=15))
            assert [g["type"] for g in got] == ["gap", "message"], got
            assert got[0]["reason"] == "epoch"
            await nothing_more(a)
    arun(go(), timeout=60)


def test_c_client_resumes_after_its_server_restarts(servers, redis, run_client):
    s1 = servers("--channels", "/channels", "--redis", redis.url)
    s2 = servers("--channels", "/channels", "--redis", redis.url)
    port = s1.port
    s1.wait_line(lambda l: "backplane: connected" in l)
    s2.wait_line(lambda l: "backplane: connected" in l)
    cl = run_client(wsurl(s1), "--reconnect")
    cl.wait_line(lambda l: l.startswith("open "))
    cl.send("/subscribe news")
    cl.wait_line(lambda l: l.startswith("reply subscribed news"))
    publish_cmd(s2, "news", "one")
    publish_cmd(s2, "news", "two")
    cl.wait_line(lambda l: l.startswith("channel news seq=2"))
    s1.stop()
    cl.wait_line(lambda l: l.startswith("close ") and "will_retry=1" in l)
    publish_cmd(s2, "news", "three")
    publish_cmd(s2, "news", "four")
    s3 = servers("--channels", "/channels", "--redis", redis.url, port=port)
    s3.wait_line(lambda l: "backplane: connected" in l)
    start = len(cl.lines)
    cl.wait_line(lambda l: l.startswith("reply subscribed news") and "recovered=1" in l, start=start,
                 timeout=15)
    cl.wait_line(lambda l: l.startswith("channel news seq=4"), start=start)
    publish_cmd(s2, "news", "five")
    cl.wait_line(lambda l: l.startswith("channel news seq=5"), start=start)
    got = [l.split()[2] for l in cl.lines if l.startswith("channel news")]
    assert got == ["seq=1", "seq=2", "seq=3", "seq=4", "seq=5"], cl.lines
    assert all(l.endswith(w) for l, w in zip([l for l in cl.lines if l.startswith("channel")],
                                              ["one", "two", "three", "four", "five"]))
    assert not any(l.startswith("gap") for l in cl.lines)


# ---- auth ----

@pytest.mark.parametrize("mode,good,bad", [
    ("query", dict(query="?token=good"), dict(query="?token=bad")),
    ("cookie", dict(extra_headers={"Cookie": "a=b; session=good"}), dict(extra_headers={"Cookie": "session=bad"})),
    ("header", dict(extra_headers={"Authorization": "Bearer good"}), dict(extra_headers={"Authorization": "Bearer x"})),
])
def test_handshake_auth(servers, mode, good, bad):
    srv = servers("--auth", mode)

    async def go():
        q = good.pop("query", "")
        async with websockets.connect(wsurl(srv, "/app", q), **good) as ws:
            await ws.send("whoami")
            assert await ws.recv() == "user alice"
        qb = bad.pop("query", "")
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            async with websockets.connect(wsurl(srv, "/app", qb), **bad):
                pass
        assert e.value.status_code == 401
        with pytest.raises(websockets.exceptions.InvalidStatusCode):
            async with websockets.connect(wsurl(srv, "/app")):
                pass
    arun(go())
    if mode == "query":  # tokens stay out of the logs
        logged = [l for l in srv.lines if l.startswith("request ")]
        assert logged and all("good" not in l and "bad" not in l for l in logged), logged
        assert any("token=***" in l for l in logged)


def test_first_message_auth(servers):
    srv = servers("--auth", "first", "--auth-timeout", "500", "--channels", "/channels")

    async def go():
        async with websockets.connect(wsurl(srv, "/app")) as ws:
            await ws.send("auth good")
            assert await ws.recv() == "welcome"
            await ws.send("whoami")
            assert await ws.recv() == "user alice"
        # a wrong first message closes 1008, and nothing after it is processed
        async with websockets.connect(wsurl(srv, "/app")) as ws:
            await ws.send("auth bad")
            await ws.send("whoami")
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                while True:
                    assert await asyncio.wait_for(ws.recv(), 5) != "user -"
            assert ws.close_code == 1008
        # silence past the deadline closes 1008 too
        async with websockets.connect(wsurl(srv, "/app")) as ws:
            t0 = time.monotonic()
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1008 and time.monotonic() - t0 >= 0.4
        # the channel protocol waits for authentication as well
        async with websockets.connect(wsurl(srv)) as ws:
            await ws.send(json.dumps({"type": "subscribe", "channel": "x"}))
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1008
    arun(go())


def test_host_allowlist(servers):
    srv = servers("--host", "chat.example", "--channels", "/channels", "--sse", "/events")
    # SSE on the same port is guarded the same way (DNS rebinding)
    assert http_status(srv.port, "GET /events?channel=a HTTP/1.1\r\nHost: evil.example\r\n\r\n") == 403
    assert http_status(srv.port, "GET /events?channel=a HTTP/1.1\r\nHost: chat.example\r\n\r\n") == 200
    assert http_status(srv.port, upgrade("/app", f"127.0.0.1:{srv.port}")) == 403
    assert http_status(srv.port, upgrade("/channels", "evil.example")) == 403
    assert http_status(srv.port, upgrade("/app", "chat.example")) == 101
    assert http_status(srv.port, upgrade("/app", f"CHAT.example:{srv.port}")) == 101


# ---- rate and per-IP limits ----

def test_rate_limit_policies(servers):
    err = servers("--rate", "2", "--burst", "3", "--channels", "/channels")
    drop = servers("--rate", "2", "--burst", "3", "--policy", "drop")
    close = servers("--rate", "2", "--burst", "3", "--policy", "close")

    async def go():
        async with websockets.connect(wsurl(err, "/app")) as ws:
            for i in range(6):
                await ws.send(f"m{i}")
            got = [await ws.recv() for _ in range(6)]
            assert got[:3] == ["m0", "m1", "m2"]
            assert all(json.loads(g)["code"] == "rate_limited" for g in got[3:])
            # not a protocol request: the error has no id or channel to copy
            assert all("id" not in json.loads(g) and "channel" not in json.loads(g) for g in got[3:])
            await asyncio.sleep(1.1)  # refilled
            await ws.send("stats")
            stats = await ws.recv()
            assert stats == "stats in=7 limited=3", stats  # counted, limited or not
        async with websockets.connect(wsurl(err)) as ws:
            for i in range(5):
                await ws.send(json.dumps({"type": "subscribe", "channel": f"r{i}", "id": i}))
            got = [await recv_json(ws) for _ in range(5)]
            assert [g["type"] for g in got].count("subscribed") == 3
            # each refusal names the request it answers (id and channel)
            assert [(g["id"], g["channel"]) for g in got if g.get("code") == "rate_limited"] == \
                [(3, "r3"), (4, "r4")]
        async with websockets.connect(wsurl(drop, "/app")) as ws:
            for i in range(6):
                await ws.send(f"m{i}")
            assert [await ws.recv() for _ in range(3)] == ["m0", "m1", "m2"]
            await nothing_more(ws, 0.3)
        async with websockets.connect(wsurl(close, "/app")) as ws:
            for i in range(4):  # the 4th is one over: nothing is in flight after it
                await ws.send(f"m{i}")
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                for _ in range(7):
                    await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1008
    arun(go())


def test_per_ip_limits(servers):
    rej = servers("--max-per-ip", "2")
    clo = servers("--max-per-ip", "2", "--ip-policy", "close")

    async def go():
        a = await websockets.connect(wsurl(rej, "/app"))
        b = await websockets.connect(wsurl(rej, "/app"))
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            await websockets.connect(wsurl(rej, "/app"))
        assert e.value.status_code == 429
        assert e.value.headers["Retry-After"] == "5"  # as docs/auth.md promises
        start = len(rej.lines)
        rej.send("ipcount 127.0.0.1")
        assert rej.wait_line(lambda l: l.startswith("ipcount"), start=start) == "ipcount 2"
        await b.close()
        await asyncio.sleep(0.2)
        c = await websockets.connect(wsurl(rej, "/app"))  # room again
        await c.send("x")
        assert await c.recv() == "x"
        for ws in (a, c):
            await ws.close()
        x = await websockets.connect(wsurl(clo, "/app"))
        y = await websockets.connect(wsurl(clo, "/app"))
        z = await websockets.connect(wsurl(clo, "/app"))  # opens, then closes 1013
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            await asyncio.wait_for(z.recv(), 5)
        assert z.close_code == 1013
        await x.send("still")
        assert await x.recv() == "still"
        for ws in (x, y):
            await ws.close()
    arun(go())


def test_chat_server_example_shares_rooms_through_redis(redis, server_factory):
    a = server_factory("chat_server", "--redis", redis.url)
    b = server_factory("chat_server", "--redis", redis.url)
    time.sleep(0.5)  # both backplanes connect (their log lines go to stderr)

    async def go():
        async with websockets.connect(wsurl(a, "/")) as x, websockets.connect(wsurl(b, "/channels")) as y:
            await x.send("/join lobby")
            assert await x.recv() == "joined"
            await subscribe(y, "lobby")
            await asyncio.sleep(0.2)
            async with websockets.connect(wsurl(b, "/")) as z:
                await z.send("/say lobby hello from b")
                assert await x.recv() == "hello from b"
                m = await recv_json(y)
                assert (m["type"], m["data"], m["seq"]) == ("message", "hello from b", 1)
    arun(go())
