"""Scale-out end to end: wskit instances share a real redis-server, a real
nginx with ip_hash spreads clients over them, and clients speak the JSON
channel protocol through python3-websockets (a peer that knows nothing of
wskit). Clients are spread by their source address (127.N.0.1: ip_hash
hashes the first three octets); which instance serves each is read from
the X-Upstream header the test's nginx adds."""
import asyncio
import json
import socket

import pytest
import websockets

from instances import make_instance, KINDS
from conftest import Nginx


def upstream_of(lb_port, source_ip):
    """Port of the instance nginx sends this source address to."""
    with socket.create_connection(("127.0.0.1", lb_port), timeout=5,
                                  source_address=(source_ip, 0)) as s:
        s.sendall(b"GET /channels HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"x-upstream:"):
            return int(line.split(b":")[-1])
    raise AssertionError("no X-Upstream in %r" % data[:300])


def spread(lb_port, ports, per_instance=1, tries=120):
    """Source addresses, per_instance of them landing on each port."""
    chosen = {p: [] for p in ports}
    for n in range(1, tries + 1):
        ip = "127.%d.0.1" % n
        p = upstream_of(lb_port, ip)
        if len(chosen[p]) < per_instance:
            chosen[p].append(ip)
        if all(len(v) == per_instance for v in chosen.values()):
            return chosen
    raise AssertionError("could not spread clients over %s: %s" % (ports, chosen))


class Subscriber:
    """A channel-protocol client on python3-websockets that reconnects and
    resumes on its own, recording every message and gap it is sent."""

    def __init__(self, lb_port, source_ip, channel):
        self.url = "ws://127.0.0.1:%d/channels" % lb_port
        self.source_ip, self.channel = source_ip, channel
        self.seqs, self.data, self.gaps = [], [], []
        self.epoch, self.last = None, None
        self.connects = 0
        self.subscribed = asyncio.Event()
        self.replies = asyncio.Queue()
        self.ws = None
        self.task = None

    async def start(self):
        self.task = asyncio.ensure_future(self._run())
        await asyncio.wait_for(self.subscribed.wait(), 15)

    async def _run(self):
        for _ in range(200):  # bounded reconnects
            try:
                async with websockets.connect(self.url, local_addr=(self.source_ip, 0),
                                              open_timeout=5, ping_interval=None) as ws:
                    self.ws = ws
                    self.connects += 1
                    sub = {"type": "subscribe", "channel": self.channel}
                    if self.last is not None:
                        sub.update(since=self.last, epoch=self.epoch)
                    await ws.send(json.dumps(sub))
                    async for raw in ws:
                        self._on(json.loads(raw))
            except (OSError, websockets.exceptions.WebSocketException, asyncio.TimeoutError):
                pass
            self.ws = None
            self.subscribed.clear()
            await asyncio.sleep(0.2)

    def _on(self, m):
        t = m["type"]
        if t == "subscribed":
            if self.epoch is None:
                self.epoch, self.last = m["epoch"], m["seq"]
            self.subscribed.set()
        elif t == "message":
            if m["epoch"] != self.epoch:
                self.epoch = m["epoch"]
            self.seqs.append(m["seq"])
            self.data.append(m["data"])
            self.last = m["seq"]
        elif t == "gap":
            self.gaps.append(m)
            self.epoch, self.last = m["epoch"], m["to"]
        else:
            self.replies.put_nowait(m)

    async def publish(self, data):
        await self.ws.send(json.dumps({"type": "publish", "channel": self.channel, "data": data}))
        return await asyncio.wait_for(self.replies.get(), 10)

    async def stop(self):
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


class SseReader:
    """GET /events?channel=... through nginx from a source address, as
    HTTP/1.0 so the body is the bare event stream; records each event's
    id and data."""

    def __init__(self, lb_port, source_ip, channel):
        self.lb_port, self.source_ip, self.channel = lb_port, source_ip, channel
        self.events = []
        self.task = None

    async def start(self):
        reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", self.lb_port, local_addr=(self.source_ip, 0))
        self.writer.write(b"GET /events?channel=%s HTTP/1.0\r\nHost: lb\r\n"
                          b"Accept: text/event-stream\r\n\r\n" % self.channel.encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"text/event-stream" in head
        line = await asyncio.wait_for(reader.readline(), 10)
        assert line.startswith(b"retry:"), line
        self.task = asyncio.ensure_future(self._read(reader))

    async def _read(self, reader):
        event = {}
        while True:
            line = (await reader.readline()).decode()
            if not line:
                return
            line = line.rstrip("\n")
            if line == "":
                if "data" in event:
                    self.events.append(event)
                event = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                event[field] = value[1:] if value.startswith(" ") else value

    async def stop(self):
        self.task.cancel()
        self.writer.close()


async def wait_for(cond, timeout=20.0, what="condition"):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        await asyncio.sleep(0.05)


def start_cluster(kinds, redis, workdir):
    instances = [make_instance(k, i, redis.url, workdir) for i, k in enumerate(kinds)]
    for inst in instances:
        inst.start()
    lb = Nginx([inst.port for inst in instances])
    return instances, lb


MIXES = [("py", "py", "py")] + ([tuple(KINDS)] if len(KINDS) > 1 else [])


@pytest.mark.parametrize("kinds", MIXES, ids="-".join)
def test_publish_reaches_every_instance_exactly_once(kinds, redis, workdir):
    instances, lb = start_cluster(kinds, redis, workdir)
    try:
        asyncio.run(_every_instance_once(instances, lb))
    finally:
        lb.stop()
        for inst in instances:
            inst.kill()


async def _every_instance_once(instances, lb):
    ports = [i.port for i in instances]
    where = spread(lb.port, ports, per_instance=2)
    subs = [Subscriber(lb.port, ip, "room") for p in ports for ip in where[p]]
    for s in subs:
        await s.start()
    # one SSE stream per instance too: the same channel feeds both
    streams = [SseReader(lb.port, where[p][0], "room") for p in ports]
    for r in streams:
        await r.start()
    await asyncio.sleep(0.5)  # each stream's subscription is in place
    try:
        # each instance's clients publish in turn: every message reaches all
        n = 0
        for s in subs:
            for _ in range(10):
                reply = await s.publish("m%d" % n)
                assert reply["type"] == "published", reply
                n += 1
        await wait_for(lambda: all(len(s.seqs) >= n for s in subs), what="every message")
        await asyncio.sleep(0.3)  # anything extra (a duplicate) would arrive by now
        first = subs[0].seqs[0]
        for s in subs:
            assert s.seqs == list(range(first, first + n)), (s.source_ip, s.seqs)
            assert s.data == subs[0].data
            assert not s.gaps
        assert sorted(subs[0].data, key=lambda d: int(d[1:])) == ["m%d" % i for i in range(n)]
        await wait_for(lambda: all(len(r.events) >= n for r in streams), what="SSE events")
        epoch = subs[0].epoch
        for r in streams:
            assert [e["data"] for e in r.events] == subs[0].data, r.source_ip
            assert [e["id"] for e in r.events] == ["%s:%d" % (epoch, q) for q in subs[0].seqs]
    finally:
        for r in streams:
            await r.stop()
        for s in subs:
            await s.stop()


# each kind of instance is the one killed once
KILLS = [(kinds, victim) for kinds in MIXES for victim in range(len(kinds))
         if kinds != MIXES[0] or victim == len(kinds) - 1]


@pytest.mark.parametrize("kinds,victim", KILLS,
                         ids=["%s-kill-%s" % ("-".join(k), k[v]) for k, v in KILLS])
def test_killed_instance_clients_resume_through_nginx(kinds, victim, redis, workdir):
    instances, lb = start_cluster(kinds, redis, workdir)
    try:
        asyncio.run(_resume_after_kill(instances, lb, instances[victim]))
    finally:
        lb.stop()
        for inst in instances:
            inst.kill()


async def _resume_after_kill(instances, lb, victim):
    ports = [i.port for i in instances]
    where = spread(lb.port, ports, per_instance=2)
    subs = {p: [Subscriber(lb.port, ip, "room") for ip in where[p]] for p in ports}
    everyone = [s for group in subs.values() for s in group]
    for s in everyone:
        await s.start()
    try:
        publisher = next(subs[p][0] for p in ports if p != victim.port)
        for i in range(20):
            await publisher.publish("a%d" % i)
        await wait_for(lambda: all(len(s.seqs) >= 20 for s in everyone), what="first 20")
        victim.kill()
        moved = subs[victim.port]
        # publish while the victim's clients are away and coming back
        for i in range(20):
            await publisher.publish("b%d" % i)
            await asyncio.sleep(0.02)
        await wait_for(lambda: all(s.connects >= 2 and s.subscribed.is_set() for s in moved),
                       what="the victim's clients to reconnect")
        for i in range(10):
            await publisher.publish("c%d" % i)
        await wait_for(lambda: all(len(s.seqs) >= 50 for s in everyone), what="all 50")
        await asyncio.sleep(0.3)
        want = ["a%d" % i for i in range(20)] + ["b%d" % i for i in range(20)] + \
            ["c%d" % i for i in range(10)]
        for s in everyone:
            assert s.data == want, (s.source_ip, s.data)
            assert s.seqs == list(range(s.seqs[0], s.seqs[0] + 50))
            assert not s.gaps
        # they now live on the surviving instances
        for s in moved:
            assert upstream_of(lb.port, s.source_ip) != victim.port
    finally:
        for s in everyone:
            await s.stop()


@pytest.mark.parametrize("kinds", MIXES, ids="-".join)
def test_redis_restart_backplane_recovers(kinds, redis, workdir):
    instances, lb = start_cluster(kinds, redis, workdir)
    try:
        asyncio.run(_redis_restart(instances, lb, redis))
    finally:
        lb.stop()
        for inst in instances:
            inst.kill()


async def _redis_restart(instances, lb, redis):
    ports = [i.port for i in instances]
    where = spread(lb.port, ports, per_instance=1)
    subs = [Subscriber(lb.port, where[p][0], "room") for p in ports]
    for s in subs:
        await s.start()
    try:
        for i in range(5):
            assert (await subs[0].publish("x%d" % i))["type"] == "published"
        await wait_for(lambda: all(len(s.seqs) == 5 for s in subs), what="5 before")
        redis.kill()
        await asyncio.sleep(0.5)
        # Redis is away: publishing says so, the connections stay up
        reply = await subs[-1].publish("lost")
        assert reply["type"] == "error" and reply["code"] == "unavailable", reply
        assert all(s.ws is not None and s.connects == 1 for s in subs)
        redis.start()
        # every instance logs that it is back (each prints its own line)
        await wait_for(lambda: all("backplane: resubscribed" in i.log() for i in instances),
                       timeout=30, what="every instance to resubscribe")
        reply = await subs[-1].publish("after")
        assert reply["type"] == "published", reply
        await wait_for(lambda: all(s.data and s.data[-1] == "after" for s in subs),
                       what="the message after the restart")
        for s in subs:
            assert s.data == ["x%d" % i for i in range(5)] + ["after"]
            # Redis lost its data (no persistence): the history was reset,
            # which each subscriber is told explicitly
            assert [g["reason"] for g in s.gaps] == ["epoch"], s.gaps
            assert s.connects == 1
    finally:
        for s in subs:
            await s.stop()
