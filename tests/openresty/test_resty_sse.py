"""resty.wskit.sse in a real nginx: a channel as text/event-stream, read
by a small HTTP/1.1 client on a plain socket (chunked body decoded here),
with retry, ids, heartbeats, gaps and Last-Event-ID resume."""
import base64
import json
import socket
import time


class SSE:
    """GET an event stream; events() yields dicts (id, event, data) and
    comments as {"comment": text}."""

    def __init__(self, port, path, headers=None, timeout=5):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        h = {"Host": "127.0.0.1", "Accept": "text/event-stream"}
        h.update(headers or {})
        req = "GET %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in h.items())
        self.s.sendall((req + "\r\n").encode())
        self.raw = b""
        while b"\r\n\r\n" not in self.raw:
            chunk = self.s.recv(65536)
            assert chunk, "closed before the head"
            self.raw += chunk
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in
                        (l.partition(":") for l in lines[1:])}
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        self.body = b""

    def _more(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError
        self.raw += chunk

    def _fill(self):
        """Move decoded body bytes from raw to body (at least one chunk)."""
        if not self.chunked:
            if not self.raw:
                self._more()
            self.body += self.raw
            self.raw = b""
            return
        while b"\r\n" not in self.raw:
            self._more()
        size_line, _, rest = self.raw.partition(b"\r\n")
        n = int(size_line.split(b";")[0], 16)
        if n == 0:
            raise EOFError("the stream ended")
        while len(rest) < n + 2:
            self._more()
            size_line, _, rest = self.raw.partition(b"\r\n")
        self.body += rest[:n]
        self.raw = rest[n + 2:]

    def next(self):
        while b"\n\n" not in self.body:
            self._fill()
        block, _, self.body = self.body.partition(b"\n\n")
        ev = {}
        for line in block.decode().split("\n"):
            if line.startswith(":"):
                return {"comment": line[1:]}
            k, _, v = line.partition(":")
            v = v[1:] if v.startswith(" ") else v
            ev[k] = ev[k] + "\n" + v if k == "data" and k in ev else v
        return ev

    def next_event(self):
        """The next block that is not a heartbeat comment."""
        for _ in range(100):
            ev = self.next()
            if "comment" not in ev:
                return ev
        raise AssertionError("only comments")

    def close(self):
        self.s.close()


def test_stream_head_retry_events_and_heartbeat(local_hub):
    s = SSE(local_hub.port, "/events?channel=sse1")
    try:
        assert s.status == 200
        assert s.headers["content-type"] == "text/event-stream"
        assert s.headers["cache-control"] == "no-cache"
        assert s.headers["x-accel-buffering"] == "no"
        assert s.next() == {"retry": "1500"}
        _, res = local_hub.publish("sse1", "line one\nline two")
        ev = s.next_event()
        assert ev["id"] == "%s:%d" % (res["epoch"], res["seq"])
        assert ev["data"] == "line one\nline two"
        local_hub.publish("sse1", '{"n":1}', kind="json")
        assert s.next_event()["data"] == '{"n":1}'
        local_hub.publish("sse1", b"\x00\xff", kind="binary")
        assert base64.b64decode(s.next_event()["data"]) == b"\x00\xff"
        # nothing published: heartbeat comments every 300 ms
        t0 = time.monotonic()
        assert "comment" in s.next()
        assert "comment" in s.next()
        assert time.monotonic() - t0 < 3
    finally:
        s.close()


def test_last_event_id_resumes_from_history(local_hub):
    s = SSE(local_hub.port, "/events?channel=sse2")
    s.next()  # retry
    ids = []
    for i in range(3):
        local_hub.publish("sse2", "e%d" % i)
        ids.append(s.next_event()["id"])
    s.close()
    for i in range(3, 6):
        local_hub.publish("sse2", "e%d" % i)
    s = SSE(local_hub.port, "/events?channel=sse2", {"Last-Event-ID": ids[1]})
    try:
        s.next()
        got = [s.next_event()["data"] for _ in range(4)]
        assert got == ["e2", "e3", "e4", "e5"]  # after id 2, once each
    finally:
        s.close()
    # the query parameter works as well (EventSource polyfills use it)
    s = SSE(local_hub.port, "/events?channel=sse2&lastEventId=" + ids[2])
    try:
        s.next()
        assert s.next_event()["data"] == "e3"
    finally:
        s.close()


def test_invalid_or_expired_last_event_id(local_hub):
    # an id that is not ours: start from now
    s = SSE(local_hub.port, "/events?channel=sse3", {"Last-Event-ID": "garbage"})
    try:
        s.next()
        local_hub.publish("sse3", "fresh")
        assert s.next_event()["data"] == "fresh"
    finally:
        s.close()
    # older than the history (20 kept): an explicit gap event first
    _, first = local_hub.publish("sse3", "x")
    for i in range(25):
        local_hub.publish("sse3", "h%d" % i)
    s = SSE(local_hub.port, "/events?channel=sse3",
            {"Last-Event-ID": "%s:%d" % (first["epoch"], first["seq"])})
    try:
        s.next()
        ev = s.next_event()
        assert ev["event"] == "gap"
        gap = json.loads(ev["data"])
        assert gap["type"] == "gap" and gap["reason"] == "expired" and gap["channel"] == "sse3"
        # the gap's id is "<epoch>:<to>": a reader reconnecting right after
        # it resumes past what is gone instead of asking for it again
        assert ev["id"] == "%s:%d" % (gap["epoch"], gap["to"])
        assert gap["epoch"] == first["epoch"] and gap["to"] >= first["seq"] + 1
        assert s.next_event()["data"].startswith("h")
    finally:
        s.close()


def test_missing_channel_is_400(local_hub):
    status, _ = local_hub.http("/events")
    assert status == 400


def test_authenticate_and_authorize_hooks_apply_to_sse(local_hub):
    assert local_hub.http("/events_auth?channel=a")[0] == 401
    assert local_hub.http("/events_auth?channel=a&token=nope")[0] == 401
    assert local_hub.http("/events_auth?channel=secret1&token=s3cret")[0] == 403
    s = SSE(local_hub.port, "/events_auth?channel=open1&token=s3cret")
    try:
        assert s.status == 200
        s.next()
        local_hub.publish("open1", "ok")
        assert s.next_event()["data"] == "ok"
    finally:
        s.close()


def test_reader_too_slow_loses_the_stream_when_send_queue_is_full(local_hub):
    s = SSE(local_hub.port, "/events_small?channel=slow", timeout=20)
    try:
        s.next()  # retry
        big = "y" * 262144
        for _ in range(40):  # the reader does not read meanwhile
            assert local_hub.publish("slow", big)[0] == 200
        events = 0
        try:
            for _ in range(200):
                ev = s.next()
                if "comment" not in ev:
                    events += 1
        except (EOFError, ValueError):
            pass  # the stream ended (chunked terminator or close)
        assert 0 < events < 40
    finally:
        s.close()
    assert "wskit sse: client too slow" in local_hub.log()


def test_hosts_allowlist_applies_to_sse(local_hub):
    # /events_hosts has hosts = { "good.example", "127.0.0.1" }
    for host, want in (("evil.example", 403), ("good.example", 200),
                       ("GOOD.example:1234", 200), ("127.0.0.1:%d" % local_hub.port, 200)):
        s = SSE(local_hub.port, "/events_hosts?channel=h1", {"Host": host})
        try:
            assert s.status == want, host
        finally:
            s.close()
    # no hosts option: any Host
    s = SSE(local_hub.port, "/events?channel=h1", {"Host": "evil.example"})
    try:
        assert s.status == 200
    finally:
        s.close()
