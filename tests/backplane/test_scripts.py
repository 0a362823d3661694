"""The backplane's Lua scripts (csrc/proto/backplane.c) run for real in a
redis-server started here. The script text and the envelope code come from
the C library through build/backplane/scripts_helper, so what is tested is
exactly what the drivers EVAL."""
import os
import re
import shutil
import socket
import subprocess
import time

import pytest
import redis

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HELPER = os.environ.get("WSK_SCRIPTS_HELPER",
                        os.path.join(ROOT, "build", "backplane", "scripts_helper"))
TOKEN = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
MAX_SAFE = 2**53 - 1


def helper(*args, data=b""):
    p = subprocess.run([HELPER, *args], input=data, capture_output=True, timeout=10)
    return p.returncode, p.stdout, p.stderr


def script(name):
    rc, out, _ = helper(name)
    assert rc == 0
    return out.decode()


def parse(env):
    """The envelope as wsk_envelope_parse sees it."""
    rc, out, err = helper("parse", data=env)
    assert rc == 0, err
    head, rest = out.split(b"\n", 1)
    kind, seq, epoch, origin, clen = head.split(b" ")
    clen = int(clen)
    return {"kind": kind.decode(), "seq": int(seq), "epoch": epoch, "origin": origin,
            "channel": rest[:clen], "payload": rest[clen:]}


def build(kind, seq, epoch, origin, channel, payload):
    rc, out, err = helper("build", kind, str(seq), epoch, origin, channel, data=payload)
    assert rc == 0, err
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    assert shutil.which("redis-server"), "redis-server is needed"
    assert os.access(HELPER, os.X_OK), "run `make test-backplane` (builds the helper)"
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.05)
    yield client
    client.close()
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@pytest.fixture
def r(server):
    server.flushall()
    return server


class Chan:
    """One channel under a prefix, driven through the two scripts."""

    def __init__(self, r, name, prefix="wskit:"):
        self.r, self.name, self.prefix = r, name, prefix
        n = name.encode() if isinstance(name, str) else name
        p = prefix.encode()
        self.meta, self.hist, self.msg = p + b"meta:" + n, p + b"hist:" + n, p + b"msg:" + n
        self.pub = script("publish")
        self.rec = script("recover")

    def publish(self, payload, kind="t", origin="inst1", size=100, ttl=300000):
        if isinstance(payload, str):
            payload = payload.encode()
        seq, epoch = self.r.eval(self.pub, 2, self.meta, self.hist, self.msg, kind, origin,
                                 self.name, payload, size, ttl)
        return seq, epoch

    def recover(self, since, ttl=0, max_=100):
        res = self.r.eval(self.rec, 2, self.meta, self.hist, since, ttl, max_)
        return res[0], res[1], res[2:]


def test_helper_prints_both_scripts():
    assert "PUBLISH" in script("publish")
    assert "XRANGE" in script("recover")


def test_seq_counts_from_1_and_epoch_is_stable(r):
    c = Chan(r, "news")
    results = [c.publish("m%d" % i) for i in range(5)]
    assert [s for s, _ in results] == [1, 2, 3, 4, 5]
    epochs = {e for _, e in results}
    assert len(epochs) == 1
    epoch = epochs.pop()
    assert TOKEN.match(epoch)
    assert r.hget(c.meta, "epoch") == epoch
    assert r.hget(c.meta, "seq") == b"5"


def test_published_envelope_is_wsk_envelope_build_and_parses(r):
    c = Chan(r, "room 1")
    ps = r.pubsub()
    ps.psubscribe("wskit:msg:*")
    assert ps.get_message(timeout=5)["type"] == "psubscribe"
    seq, epoch = c.publish("héllo", origin="originA")
    msg = None
    deadline = time.monotonic() + 5
    while msg is None and time.monotonic() < deadline:
        msg = ps.get_message(timeout=1)
    ps.close()
    assert msg is not None and msg["type"] == "pmessage"
    assert msg["channel"] == b"wskit:msg:room 1"
    env = msg["data"]
    assert env == build("t", seq, epoch, "originA", "room 1", "héllo".encode())
    p = parse(env)
    assert p == {"kind": "t", "seq": 1, "epoch": epoch, "origin": b"originA",
                 "channel": b"room 1", "payload": "héllo".encode()}
    # the history entry holds the same bytes, id "<seq>-1", and a time in ms
    (eid, fields), = r.xrange(c.hist)
    assert eid == b"1-1"
    assert fields[b"e"] == env
    assert abs(int(fields[b"t"]) - time.time() * 1000) < 5000


def test_binary_json_and_odd_channels_survive(r):
    blob = bytes(range(256)) * 3
    for name, kind, payload in [("bin", "b", blob), ("js", "j", b'{"a":[1,2,{"b":null}]}'),
                                ("sp ace", "t", b""), ("ünï", "t", "ü€😀".encode())]:
        c = Chan(r, name)
        seq, epoch = c.publish(payload, kind=kind)
        _, _, envs = c.recover(0)
        assert len(envs) == 1
        p = parse(envs[0])
        assert (p["kind"], p["seq"], p["payload"]) == (kind, seq, payload)
        assert p["channel"] == name.encode()


def test_maxlen_trims_history(r):
    c = Chan(r, "t")
    for i in range(7):
        c.publish("m%d" % i, size=3)
    ids = [e for e, _ in r.xrange(c.hist)]
    assert ids == [b"5-1", b"6-1", b"7-1"]


def test_history_size_0_keeps_nothing_but_numbers_and_publishes(r):
    c = Chan(r, "t")
    ps = r.pubsub()
    ps.subscribe(c.msg)
    assert ps.get_message(timeout=5)["type"] == "subscribe"
    assert c.publish("a", size=0)[0] == 1
    assert c.publish("b", size=0)[0] == 2
    assert not r.exists(c.hist)
    got = []
    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        m = ps.get_message(timeout=1)
        if m and m["type"] == "message":
            got.append(parse(m["data"])["seq"])
    ps.close()
    assert got == [1, 2]
    epoch, top, envs = c.recover(0)
    assert (top, envs) == (2, [])


def test_history_key_expires_after_ttl(r):
    c = Chan(r, "t")
    c.publish("a", ttl=60000)
    assert 0 < r.pttl(c.hist) <= 60000
    c.publish("b", ttl=0)  # no age limit: the key keeps the earlier expiry
    assert r.pttl(c.hist) > 0


DAY_MS = 86400000


def near(pttl, want):
    """A PTTL just set to `want` ms (allowing for the time the test takes)."""
    return want - 10000 < pttl <= want


def test_meta_expires_a_day_after_the_history_ttl(r):
    c = Chan(r, "t")
    c.publish("a", ttl=60000)
    assert near(r.pttl(c.meta), 60000 + DAY_MS)
    # each publish pushes it back
    r.pexpire(c.meta, 5000)
    c.publish("b", ttl=60000)
    assert near(r.pttl(c.meta), 60000 + DAY_MS)
    # and so does each recover
    r.pexpire(c.meta, 5000)
    epoch, top, _ = c.recover(-1, ttl=120000)
    assert top == 2
    assert near(r.pttl(c.meta), 120000 + DAY_MS)
    # ttl 0 (no age limit) leaves the expiry as it was
    r.pexpire(c.meta, 5000)
    c.publish("c", ttl=0)
    c.recover(0, ttl=0)
    assert 0 < r.pttl(c.meta) <= 5000


def test_subscribe_alone_leaves_no_permanent_key(r):
    # a subscribe to a channel nobody publishes to runs only the recover script
    c = Chan(r, "never-published")
    epoch, top, envs = c.recover(-1, ttl=300000)
    assert TOKEN.match(epoch) and top == 0 and envs == []
    assert near(r.pttl(c.meta), 300000 + DAY_MS)
    assert not r.exists(c.hist)
    # the key really goes: with a short ttl it is gone a day later (simulated
    # by shortening what is left), and a new subscribe makes a new epoch
    r.pexpire(c.meta, 50)
    deadline = time.monotonic() + 5
    while r.exists(c.meta) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not r.exists(c.meta)
    time.sleep(0.002)  # epochs are made from the clock in microseconds
    assert c.recover(-1, ttl=300000)[0] != epoch


def test_ttl_0_keeps_meta_for_ever(r):
    c = Chan(r, "t")
    c.recover(-1, ttl=0)
    assert r.pttl(c.meta) == -1
    c.publish("a", ttl=0)
    assert r.pttl(c.meta) == -1


def test_control_characters_in_channels_are_refused():
    # a channel name is part of Redis keys: the envelope code refuses
    # bytes < 0x20 and 0x7f on both sides
    for bad in [b"sp ace\nline", b"nul\x00", b"del\x7f", b"\t", b"\x1f"]:
        if b"\x00" not in bad:  # argv cannot carry a NUL
            rc, _, err = helper("build", "t", "1", "e", "o", bad, data=b"x")
            assert rc == 1 and err, bad
        env = b"WSK1 t 1 e o %d\n" % len(bad) + bad + b"x"
        rc, _, err = helper("parse", data=env)
        assert rc == 1 and err, bad
    assert parse(b"WSK1 t 1 e o 2\na~x")["channel"] == b"a~"


def test_recover_since_returns_exactly_the_later_envelopes(r):
    c = Chan(r, "t")
    epoch = None
    for i in range(1, 11):
        _, epoch = c.publish("m%d" % i)
    for since in range(0, 11):
        e, top, envs = c.recover(since)
        assert (e, top) == (epoch, 10)
        parsed = [parse(x) for x in envs]
        assert [p["seq"] for p in parsed] == list(range(since + 1, 11))
        assert [p["payload"] for p in parsed] == [b"m%d" % i for i in range(since + 1, 11)]


def test_recover_since_past_top_and_max(r):
    c = Chan(r, "t")
    for i in range(5):
        c.publish(str(i))
    assert c.recover(5)[2] == []
    assert c.recover(99)[2] == []
    assert [parse(x)["seq"] for x in c.recover(0, max_=2)[2]] == [1, 2]
    assert [parse(x)["seq"] for x in c.recover(1, max_=3)[2]] == [2, 3, 4]
    assert c.recover(0, max_=0)[2] == []


def test_recover_only_trimmed_remainder(r):
    c = Chan(r, "t")
    for i in range(6):
        c.publish(str(i), size=2)
    _, top, envs = c.recover(0)
    assert top == 6
    assert [parse(x)["seq"] for x in envs] == [5, 6]


def test_position_only(r):
    c = Chan(r, "t")
    _, epoch = c.publish("a")
    c.publish("b")
    assert c.recover(-1) == (epoch, 2, [])


def test_recover_creates_the_epoch_of_a_new_channel(r):
    c = Chan(r, "fresh")
    epoch, top, envs = c.recover(-1)
    assert TOKEN.match(epoch) and top == 0 and envs == []
    assert r.hget(c.meta, "epoch") == epoch
    assert c.recover(0) == (epoch, 0, [])
    assert c.publish("x") == (1, epoch)


def test_ttl_filters_old_entries(r):
    c = Chan(r, "t")
    c.publish("old")
    time.sleep(0.4)
    c.publish("new")
    assert [parse(x)["payload"] for x in c.recover(0, ttl=200)[2]] == [b"new"]
    assert [parse(x)["payload"] for x in c.recover(0, ttl=0)[2]] == [b"old", b"new"]
    assert [parse(x)["payload"] for x in c.recover(0, ttl=60000)[2]] == [b"old", b"new"]


def test_lost_meta_starts_a_new_epoch_and_drops_old_history(r):
    c = Chan(r, "t")
    c.publish("a")
    _, e1 = c.publish("b")
    r.delete(c.meta)  # e.g. evicted, or a Redis restart without persistence
    time.sleep(0.002)  # epochs are made from the clock in microseconds
    seq, e2 = c.publish("c")
    assert seq == 1 and e2 != e1
    _, top, envs = c.recover(0)
    assert top == 1
    assert [(parse(x)["seq"], parse(x)["epoch"]) for x in envs] == [(1, e2)]


def test_big_seqs_are_plain_decimals(r):
    c = Chan(r, "t")
    c.publish("first")
    r.hset(c.meta, "seq", MAX_SAFE - 2)
    r.delete(c.hist)
    seq, epoch = c.publish("a")
    assert seq == MAX_SAFE - 1
    seq, epoch = c.publish("b")
    assert seq == MAX_SAFE
    _, top, envs = c.recover(MAX_SAFE - 2)
    assert top == MAX_SAFE
    assert [parse(x)["seq"] for x in envs] == [MAX_SAFE - 1, MAX_SAFE]
    assert b" 9007199254740991 " in envs[1]
    assert [e for e, _ in r.xrange(c.hist)][-1] == b"9007199254740991-1"


def test_prefix_keeps_apps_apart(r):
    a = Chan(r, "same", prefix="app1:")
    b = Chan(r, "same", prefix="app2:")
    a.publish("x")
    a.publish("y")
    assert b.publish("z")[0] == 1
    assert sorted(r.keys("app1:*")) == [b"app1:hist:same", b"app1:meta:same"]


def test_helper_refuses_bad_envelopes():
    for bad in [b"", b"WSK2 t 1 e o 1\nc", b"WSK1 t 0 e o 1\nc", b"WSK1 j 1 e o 1\nc{",
                b"WSK1 t 1 e o 2\nc"]:
        rc, _, err = helper("parse", data=bad)
        assert rc == 1 and err
