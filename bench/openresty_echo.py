#!/usr/bin/python3
"""Echo round trips through one nginx: resty.wskit.server side by side
with lua-resty-websocket (Debian's nginx.websocket.server), same worker,
same load.

    make bench-openresty            (or: /usr/bin/python3 bench/openresty_echo.py)
    options: --conns 64 --size 1024 --seconds 5 --rounds 2 [--loadgen PATH]

With --loadgen PATH the C load generator bench/loadgen.c (its --lean mode:
the same pre-masked frame, echoes counted as bytes) drives the load
instead of Python, at a fraction of the CPU.

The load generator is a deliberately thin asyncio Protocol (on uvloop when
installed): each connection sends one pre-masked binary frame and sends the
next as soon as the whole echo has arrived, so it measures round trips per
second with `conns` messages in flight. No compression (the client offers
none). Prints one line per implementation and round (throughput, latency, and
the nginx worker's CPU time per round trip, the fairer number on a machine
where the load generator competes for the same cores), then a summary.
"""
import argparse
import asyncio
import base64
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONF = """
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {prefix};
  lua_package_path "{root}/lua/?.lua;/usr/share/lua/5.1/?.lua;;";
  lua_package_cpath "{root}/build/lua/?.so;;";
  server {{
    listen 127.0.0.1:{port};
    location = /wskit {{
      content_by_lua_block {{
        local server = require "resty.wskit.server"
        local ws, err = server:new{{ timeout = 30000 }}
        if not ws then return end
        while true do
          local data, typ = ws:recv_frame()
          if not data then return end
          if typ == "binary" then ws:send_binary(data)
          elseif typ == "text" then ws:send_text(data)
          elseif typ == "close" then return end
        end
      }}
    }}
    location = /resty {{
      content_by_lua_block {{
        local server = require "nginx.websocket.server"
        local ws, err = server:new{{ timeout = 30000, max_payload_len = 1048576 }}
        if not ws then return end
        while true do
          local data, typ = ws:recv_frame()
          if not data then return end
          if typ == "binary" then ws:send_binary(data)
          elseif typ == "text" then ws:send_text(data)
          elseif typ == "close" then ws:send_close() return end
        end
      }}
    }}
  }}
}}
"""


def masked_frame(payload):
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", 0x82, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", 0x82, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", 0x82, 0x80 | 127, n)
    return hdr + key + masked


def echo_len(n):
    return n + (2 if n < 126 else 4 if n < 65536 else 10)


class Echo(asyncio.Protocol):
    """Sends the frame, waits for `expect` bytes of echo, repeats."""

    def __init__(self, frame, expect, stats):
        self.frame, self.expect, self.stats = frame, expect, stats
        self.got, self.head_done, self.head = 0, False, b""
        self.opened = asyncio.get_running_loop().create_future()
        self.t0 = 0.0

    def connection_made(self, tr):
        self.tr = tr
        key = base64.b64encode(os.urandom(16)).decode()
        tr.write(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n" % (self.stats["path"], key)).encode())

    def data_received(self, data):
        if not self.head_done:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            head, _, rest = self.head.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(RuntimeError(head[:80]))
                return
            self.head_done = True
            self.opened.set_result(True)
            data = rest
            if not data:
                return
        self.got += len(data)
        while self.got >= self.expect:
            self.got -= self.expect
            now = time.perf_counter()
            if self.stats["measuring"]:
                self.stats["count"] += 1
                self.stats["lat"].append(now - self.t0)
            self.send()

    def send(self):
        self.t0 = time.perf_counter()
        self.tr.write(self.frame)


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pid(master):
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return int(out.split()[0])


async def run_load(port, path, conns, size, seconds, worker):
    loop = asyncio.get_running_loop()
    stats = {"path": path, "count": 0, "lat": [], "measuring": False}
    frame = masked_frame(os.urandom(size))
    protos = []
    for _ in range(conns):
        _, p = await loop.create_connection(lambda: Echo(frame, echo_len(size), stats),
                                            "127.0.0.1", port)
        protos.append(p)
    await asyncio.wait_for(asyncio.gather(*(p.opened for p in protos)), 10)
    for p in protos:
        p.send()
    await asyncio.sleep(1.0)  # warm up (JIT, buffers)
    stats["measuring"] = True
    t0, c0 = time.perf_counter(), cpu_seconds(worker)
    await asyncio.sleep(seconds)
    stats["measuring"] = False
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds(worker) - c0
    for p in protos:
        p.tr.close()
    await asyncio.sleep(0.2)
    lat = sorted(stats["lat"])

    def pct(q):
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
    n = max(stats["count"], 1)
    return stats["count"] / elapsed, pct(0.5), pct(0.99), cpu / n * 1e6


def run_loadgen(path, port, impl, conns, size, seconds, worker):
    """bench/loadgen.c --lean: returns msg/s, p50 ms, p99 ms, nginx us/msg."""
    cmd = [path, "--lean", "-q", "-c", str(conns), "-s", str(size), "-d", str(seconds),
           "-w", "1", "--server-pid", str(worker), "ws://127.0.0.1:%d/%s" % (port, impl)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    line = [l for l in out.splitlines() if l.startswith("RESULT")][-1]
    kv = dict(f.split("=", 1) for f in line.split()[1:])
    rps = float(kv["rps"])
    us = float(kv["server_cpu"]) / 100 / rps * 1e6 if rps else float("nan")
    return rps, float(kv["p50_us"]) / 1000, float(kv["p99_us"]) / 1000, us


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_nginx(prefix):
    port = free_port()
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(prefix=prefix, root=ROOT, port=port))
    proc = subprocess.Popen(["nginx", "-p", prefix, "-c", conf, "-g", "daemon off;"])
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("nginx did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--loadgen", help="path of a built bench/loadgen.c")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(ROOT, "build/lua/wskit/proto.so")):
        sys.exit("build/lua/wskit/proto.so missing: run `make lua-proto`")
    try:
        import uvloop
        uvloop.install()
        loopname = "uvloop"
    except ImportError:
        loopname = "asyncio"
    prefix = tempfile.mkdtemp(prefix="wskit-bench-or-")
    proc, port = start_nginx(prefix)
    results = {"resty": [], "wskit": []}
    cpu = {"resty": [], "wskit": []}
    worker = worker_pid(proc.pid)
    if a.loadgen:
        loopname = "C (bench/loadgen --lean)"
    print("echo round trips: %d connections, %d-byte binary messages, %g s per run, "
          "1 nginx worker, %s load generator" % (a.conns, a.size, a.seconds, loopname))
    try:
        for r in range(a.rounds):
            for impl in (("resty", "wskit") if r % 2 == 0 else ("wskit", "resty")):
                if a.loadgen:
                    rate, p50, p99, us = run_loadgen(a.loadgen, port, impl, a.conns, a.size,
                                                     a.seconds, worker)
                else:
                    rate, p50, p99, us = asyncio.run(
                        run_load(port, "/" + impl, a.conns, a.size, a.seconds, worker))
                results[impl].append(rate)
                cpu[impl].append(us)
                name = "resty.wskit.server" if impl == "wskit" else "lua-resty-websocket"
                print("  round %d  %-20s %9.0f msg/s   p50 %6.2f ms   p99 %6.2f ms   "
                      "nginx CPU %5.2f us/msg" % (r + 1, name, rate, p50, p99, us))
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(prefix, ignore_errors=True)
    best = {k: max(v) for k, v in results.items()}
    least = {k: min(v) for k, v in cpu.items()}
    print("best: resty.wskit.server %.0f msg/s %.2f us/msg, lua-resty-websocket %.0f msg/s "
          "%.2f us/msg (throughput ratio %.2f, CPU ratio %.2f)"
          % (best["wskit"], least["wskit"], best["resty"], least["resty"],
             best["wskit"] / best["resty"], least["wskit"] / least["resty"]))


if __name__ == "__main__":
    main()
