#!/usr/bin/python3
"""Channel fan-out, in one process and across instances through Redis.

    .venv/bin/python bench/fanout_bench.py [--subs N] [--messages M] [--rounds R]
    make bench-fanout

For each server (the Python driver; the C driver's examples/c/chat_server;
and, as the reference, Socket.IO 4 on node with @socket.io/redis-adapter,
installed from npm into build/bench-socketio on first use, its rooms
spoken to over the same WebSocket client) and each setting (one instance without Redis; two instances
sharing a redis-server), N subscribers speak the JSON channel protocol
(docs/protocol.md) to the instances in turn, and one publisher on the
first instance publishes M messages, 16 unacknowledged at most. Each
message carries its publish time (CLOCK_MONOTONIC, the same in every
process); a subscriber records when it arrives. Reported: deliveries per
second (N x M over the time from the first publish to the last delivery)
and the publish-to-delivery latency (p50, p99), the median of R rounds.

The subscribers and the publisher run in one client process (wskit's own
client, on uvloop when installed), the servers in their own processes;
the machine has two cores, so clients and servers share them. Every wait
is bounded and every child is killed at the end.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")
C_SERVER = os.path.join(ROOT, "build", "examples", "chat_server")

PY_SERVER = """
import asyncio, sys, wskit
async def main(port, redis):
    async with wskit.serve(None, "127.0.0.1", port, channels_path="/channels",
                           backplane=redis or None, history_size=1000):
        print("ready", flush=True)
        await asyncio.Future()
try:
    import uvloop; uvloop.install()
except ImportError:
    pass
asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("port %d" % port)


def start(argv, port):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_port(port, proc)
    return proc


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


SIO_DIR = os.path.join(ROOT, "build", "bench-socketio")


def socketio_ready():
    """Socket.IO and its Redis adapter from npm into build/bench-socketio."""
    if os.path.isdir(os.path.join(SIO_DIR, "node_modules", "@socket.io", "redis-adapter")):
        return True
    os.makedirs(SIO_DIR, exist_ok=True)
    r = subprocess.run(["npm", "install", "--prefix", SIO_DIR, "--no-audit", "--no-fund",
                        "--silent", "socket.io@4", "@socket.io/redis-adapter@8", "redis@4"],
                       timeout=300)
    return r.returncode == 0


def server_argv(kind, port, redis_url):
    if kind == "socketio":
        argv = ["env", "NODE_PATH=" + os.path.join(SIO_DIR, "node_modules"), "node",
                os.path.join(ROOT, "bench", "socketio_server.js"), str(port)]
        return argv + ([redis_url] if redis_url else [])
    if kind == "python":
        return [VENV_PY, "-c", PY_SERVER, str(port), redis_url or ""]
    argv = [C_SERVER, str(port)]
    return argv + (["--redis", redis_url] if redis_url else [])


class WskitClient:
    """wskit's own client speaking the JSON channel protocol."""

    async def connect(self, port):
        import wskit
        self.ws = await wskit.connect("ws://127.0.0.1:%d/channels" % port, max_queue=4096)

    async def subscribe(self, room):
        await self.ws.subscribe(room)

    async def publish(self, room, data):
        await self.ws.publish(room, data)

    async def messages(self):
        async for m in self.ws:
            yield m.data

    async def close(self):
        await self.ws.close()


class SocketIOClient:
    """Socket.IO v4 (Engine.IO 4) over the same WebSocket client: open
    packet, namespace connect, events and acks as text frames."""

    async def connect(self, port):
        import wskit
        self.ws = await wskit.connect(
            "ws://127.0.0.1:%d/socket.io/?EIO=4&transport=websocket" % port, max_queue=4096)
        assert (await self.ws.recv()).startswith("0")
        await self.ws.send("40")
        assert (await self.ws.recv()).startswith("40")
        self.acks, self.next_id = {}, 0
        self.queue = asyncio.Queue()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        async for text in self.ws:
            if text == "2":
                await self.ws.send("3")
            elif text.startswith("43"):
                i = 2
                while text[i].isdigit():
                    i += 1
                self.acks.pop(int(text[2:i])).set_result(None)
            elif text.startswith("42"):
                self.queue.put_nowait(json.loads(text[2:])[2])

    async def _emit(self, *args):
        self.next_id += 1
        fut = self.acks[self.next_id] = asyncio.get_running_loop().create_future()
        await self.ws.send("42%d%s" % (self.next_id, json.dumps(args)))
        await asyncio.wait_for(fut, 10)

    async def subscribe(self, room):
        await self._emit("subscribe", room)

    async def publish(self, room, data):
        await self._emit("publish", room, data)

    async def messages(self):
        while True:
            yield await self.queue.get()

    async def close(self):
        self.reader.cancel()
        await self.ws.close()


async def run_round(kind, ports, subs, messages):
    make = SocketIOClient if kind == "socketio" else WskitClient
    lat, got = [], [0]
    done = asyncio.Event()
    total = subs * messages
    clients = []
    for i in range(subs):
        c = make()
        await c.connect(ports[i % len(ports)])
        await c.subscribe("bench")
        clients.append(c)

    async def read(c):
        async for data in c.messages():
            lat.append(time.monotonic_ns() - int(data))
            got[0] += 1
            if got[0] == total:
                done.set()

    readers = [asyncio.ensure_future(read(c)) for c in clients]
    pub = make()
    await pub.connect(ports[0])
    window = asyncio.Semaphore(16)

    async def one():
        async with window:
            await pub.publish("bench", str(time.monotonic_ns()))

    t0 = time.monotonic()
    tasks = []
    for _ in range(messages):
        await window.acquire()
        window.release()
        tasks.append(asyncio.ensure_future(one()))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    await asyncio.wait_for(done.wait(), 60)
    elapsed = time.monotonic() - t0
    for r in readers:
        r.cancel()
    for c in clients + [pub]:
        await c.close()
    lat.sort()
    return total / elapsed, lat[len(lat) // 2] / 1e6, lat[int(len(lat) * 0.99)] / 1e6


def measure(kind, with_redis, args, redis_url):
    n = 2 if with_redis else 1
    results = []
    for _ in range(args.rounds):
        ports = [free_port() for _ in range(n)]
        procs = [start(server_argv(kind, p, redis_url if with_redis else None), p)
                 for p in ports]
        try:
            results.append(asyncio.run(run_round(kind, ports, args.subs, args.messages)))
        finally:
            for p in procs:
                stop(p)
    rate = statistics.median(r[0] for r in results)
    p50 = statistics.median(r[1] for r in results)
    p99 = statistics.median(r[2] for r in results)
    spread = (min(r[0] for r in results), max(r[0] for r in results))
    return rate, spread, p50, p99


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subs", type=int, default=100)
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--servers", default="python,c,socketio")
    args = ap.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    redis_dir = tempfile.mkdtemp(prefix="wskit-bench-redis-")
    rport = free_port()
    redis = start([shutil.which("redis-server"), "--port", str(rport), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", redis_dir], rport)
    url = "redis://127.0.0.1:%d/0" % rport
    print("%d subscribers, %d messages each, median of %d rounds"
          % (args.subs, args.messages, args.rounds))
    print("%-8s %-24s %14s %18s %9s %9s" % ("server", "setting", "deliveries/s", "(min-max)",
                                             "p50 ms", "p99 ms"))
    try:
        for kind in args.servers.split(","):
            if kind == "socketio" and not socketio_ready():
                print("socketio: npm install failed, left out")
                continue
            for with_redis in (False, True):
                setting = "2 instances + Redis" if with_redis else "1 instance, in memory"
                rate, spread, p50, p99 = measure(kind, with_redis, args, url)
                print("%-8s %-24s %14.0f %18s %9.1f %9.1f" % (
                    kind, setting, rate, "(%.0f-%.0f)" % spread, p50, p99), flush=True)
    finally:
        stop(redis)
        shutil.rmtree(redis_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
