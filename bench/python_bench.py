#!/usr/bin/python3
"""Benchmark of the Python driver (python/wskit) against websockets and aiohttp.

    /usr/bin/python3 bench/python_bench.py [--rounds N] [--duration S] [--pipelined]
    make bench-py          (BENCH_PY_ARGS passes options)

In one run:

1. Echo servers on 127.0.0.1, each in its own process on one core, driven by
   the C load generator (bench/loadgen.c, built into build/bench-py/) on the
   other core: 64 connections, 1 KiB binary messages, one in flight per
   connection (--pipelined adds a depth-8 pass for wskit and the reference).
   Servers: wskit awaitable (``async for msg in ws: await ws.send(msg)``),
   wskit Handler (callback style), websockets (legacy ``websockets.serve``),
   aiohttp, each on asyncio's default loop and on uvloop; and our C echo
   server (build/examples/echo_server) as the reference.
2. Python clients as load generators against the C echo server: ``wskit
   bench`` (Handler clients) and the same loop written with websockets'
   client (``await ws.send(m); await ws.recv()`` per connection).
3. Memory per idle server connection: the server's RSS with --idle-conns
   idle connections minus its RSS with one, the connections opened by a
   separate asyncio process.

Compression is off everywhere (the load generators do not offer it).
Every measurement is bounded (loadgen: connect 10 s, warm-up, duration,
3 s to close; everything else has a timeout) and every child is killed at
the end. The machine may be shared: --rounds repeats the throughput passes
and the table shows the median and the spread (min-max).

Internal modes (the script runs itself): --serve KIND LOOP PORT,
--ws-client URL CONNS SIZE DURATION LOOP, --idle-client URL N HOLD.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
LOADGEN = os.path.join(BUILD, "bench-py", "loadgen")
C_ECHO = os.path.join(BUILD, "examples", "echo_server")
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")
HERE = os.path.abspath(__file__)

SERVER_KINDS = ("wskit-await", "wskit-handler", "websockets", "aiohttp")
LABEL = {"wskit-await": "wskit awaitable", "wskit-handler": "wskit Handler",
         "websockets": "websockets 10.4", "aiohttp": "aiohttp 3.8", "c": "C echo_server"}


# ---------------------------------------------------------------- servers

def new_loop(kind: str):
    import asyncio
    if kind == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def serve_main(kind: str, loop_kind: str, port: int) -> int:
    import asyncio
    loop = new_loop(loop_kind)
    asyncio.set_event_loop(loop)

    async def main() -> None:
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        if kind == "wskit-await":
            import wskit

            async def echo(ws):
                async for msg in ws:
                    await ws.send(msg)
            server = await wskit.serve(echo, "127.0.0.1", port, compression=None,
                                       ping_interval=None)
        elif kind == "wskit-handler":
            import wskit

            class Echo(wskit.Handler):
                __slots__ = ()

                def on_message(self, message):
                    self.send(message)
            server = await wskit.serve(Echo, "127.0.0.1", port, compression=None,
                                       ping_interval=None)
        elif kind == "websockets":
            import websockets

            async def echo(ws, path=None):
                async for msg in ws:
                    await ws.send(msg)
            server = await websockets.serve(echo, "127.0.0.1", port, compression=None,
                                            ping_interval=None)
        elif kind == "aiohttp":
            from aiohttp import WSMsgType, web

            async def handler(request):
                ws = web.WebSocketResponse(compress=False, autoping=True)
                await ws.prepare(request)
                async for msg in ws:
                    if msg.type == WSMsgType.BINARY:
                        await ws.send_bytes(msg.data)
                    elif msg.type == WSMsgType.TEXT:
                        await ws.send_str(msg.data)
                return ws
            app = web.Application()
            app.router.add_get("/", handler)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", port)
            await site.start()
            server = runner
        else:
            raise SystemExit(f"unknown server kind {kind}")
        print("READY", flush=True)
        await stop.wait()
        if kind == "aiohttp":
            await asyncio.wait_for(server.cleanup(), 3)
        else:
            server.close()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return 0


# ---------------------------------------------------------------- clients (child modes)

def ws_client_main(url: str, conns: int, size: int, duration: float, loop_kind: str) -> int:
    """websockets' client doing what `wskit bench` does: N connections, each
    send / recv / repeat; prints JSON {"msgs_per_s": ...}."""
    import asyncio
    import websockets
    loop = new_loop(loop_kind)
    asyncio.set_event_loop(loop)
    payload = b"x" * size
    state = {"measuring": False, "sending": True, "count": 0}

    async def one(ws):
        while state["sending"]:
            await ws.send(payload)
            await ws.recv()
            if state["measuring"]:
                state["count"] += 1

    async def main():
        socks = await asyncio.wait_for(asyncio.gather(*(
            websockets.connect(url, compression=None, ping_interval=None, max_size=None)
            for _ in range(conns))), 10)
        tasks = [asyncio.ensure_future(one(ws)) for ws in socks]
        await asyncio.sleep(0.5)  # warm-up, like loadgen's
        state["measuring"] = True
        t0 = time.perf_counter()
        await asyncio.sleep(duration)
        n, el = state["count"], time.perf_counter() - t0
        state["measuring"] = False
        state["sending"] = False
        await asyncio.wait(tasks, timeout=3)
        await asyncio.wait([asyncio.ensure_future(ws.close()) for ws in socks], timeout=3)
        print(json.dumps({"msgs_per_s": n / el, "messages": n, "duration": el}), flush=True)

    loop.run_until_complete(main())
    return 0


def idle_client_main(url: str, n: int, hold: float) -> int:
    """Open n idle WebSocket connections (wskit Handler clients, at most 200
    handshakes at a time), print "OPEN k", hold them until stdin closes or
    `hold` seconds pass."""
    import asyncio
    import wskit

    class Idle(wskit.Handler):
        __slots__ = ()

        def on_message(self, message):
            pass
    loop = new_loop("uvloop")
    asyncio.set_event_loop(loop)

    async def main():
        sem = asyncio.Semaphore(200)
        opened = []

        async def one():
            async with sem:
                try:
                    opened.append(await wskit.connect(url, protocol_class=Idle, compression=None,
                                                      ping_interval=None, open_timeout=10))
                except Exception:
                    pass
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), 30)
        print(f"OPEN {len(opened)}", flush=True)
        done = asyncio.Event()
        loop.add_reader(sys.stdin.fileno(), done.set)
        try:
            await asyncio.wait_for(done.wait(), hold)
        except asyncio.TimeoutError:
            pass
        for c in opened:
            c.abort()

    loop.run_until_complete(main())
    return 0


# ---------------------------------------------------------------- the driver

def have_taskset() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pin(cmd, core):
    return (["taskset", "-c", str(core)] + cmd) if have_taskset() else cmd


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port: int, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Server:
    """One echo server process on core 0."""

    def __init__(self, kind: str, loop_kind: str = "asyncio"):
        self.kind, self.loop_kind = kind, loop_kind
        self.port = free_port()
        if kind == "c":
            cmd = [C_ECHO, str(self.port), "--no-deflate", "--quiet"]
        else:
            cmd = [VENV_PY, HERE, "--serve", kind, loop_kind, str(self.port)]
        self.proc = subprocess.Popen(pin(cmd, 0), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        if not wait_port(self.port):
            self.stop()
            raise RuntimeError(f"server {kind}/{loop_kind} did not start")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def parse_result(out: str) -> dict:
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            return dict(kv.split("=", 1) for kv in line.split()[1:])
    return {}


def loadgen(server: Server, conns: int, size: int, depth: int, duration: float) -> dict:
    cmd = [LOADGEN, "-c", str(conns), "-s", str(size), "-p", str(depth), "-d", str(duration),
           "-w", "0.5", "-q", "--server-pid", str(server.proc.pid), server.url]
    try:
        r = subprocess.run(pin(cmd, 1), capture_output=True, text=True, timeout=duration + 20)
    except subprocess.TimeoutExpired:
        return {}
    res = parse_result(r.stdout)
    if not res or int(res.get("open", 0)) < conns or int(res.get("errors", 1)):
        sys.stderr.write(f"  loadgen problem: {r.stdout.strip()[-300:]} {r.stderr.strip()[-300:]}\n")
    return res


def fmt(v: float) -> str:
    return f"{v:,.0f}"


def summary(vals):
    vals = [v for v in vals if v]
    if not vals:
        return 0.0, "failed"
    med = statistics.median(vals)
    spread = f"{fmt(min(vals))}-{fmt(max(vals))}" if len(vals) > 1 else "-"
    return med, spread


def build() -> None:
    need = [os.path.join(BUILD, "libwskit.a"), os.path.join(BUILD, "libwskit_uv.a"), C_ECHO]
    if not all(os.path.exists(p) for p in need):
        subprocess.run(["make", "-C", ROOT, "lib", "uv", "examples"], check=True,
                       stdout=subprocess.DEVNULL)
    src = os.path.join(ROOT, "bench", "loadgen.c")
    deps = [src] + need[:2]
    if (not os.path.exists(LOADGEN)
            or any(os.path.getmtime(p) > os.path.getmtime(LOADGEN) for p in deps)):
        os.makedirs(os.path.dirname(LOADGEN), exist_ok=True)
        subprocess.run(["cc", "-O2", "-I" + os.path.join(ROOT, "csrc", "include"), src,
                        need[1], need[0], "-luv", "-lssl", "-lcrypto", "-ljansson", "-lz",
                        "-o", LOADGEN], check=True)
    if not os.path.exists(VENV_PY):
        subprocess.run(["make", "-C", ROOT, "venv"], check=True)


def raise_nofile(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(n, soft)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def throughput(args) -> dict:
    """{(kind, loop, depth): [rps per round]} plus server CPU."""
    cases = [("c", "-", 1)]
    for kind in SERVER_KINDS:
        for loop_kind in ("asyncio", "uvloop"):
            cases.append((kind, loop_kind, 1))
    if args.pipelined:
        cases += [("c", "-", 8), ("wskit-await", "asyncio", 8), ("wskit-handler", "asyncio", 8),
                  ("websockets", "asyncio", 8), ("aiohttp", "asyncio", 8)]
    results = {c: [] for c in cases}
    cpu = {c: [] for c in cases}
    for rnd in range(args.rounds):
        for case in cases:
            kind, loop_kind, depth = case
            srv = Server(kind, loop_kind if loop_kind != "-" else "asyncio")
            try:
                res = loadgen(srv, args.conns, args.size, depth, args.duration)
            finally:
                srv.stop()
            rps = float(res.get("rps", 0))
            results[case].append(rps)
            cpu[case].append(float(res.get("server_cpu", -1)))
            print(f"  round {rnd + 1}: {LABEL[kind]:16} {loop_kind:8} depth {depth}: "
                  f"{fmt(rps):>8} rt/s  server cpu {res.get('server_cpu', '?')} %  "
                  f"loadgen cpu {res.get('cpu', '?')} %", flush=True)
    return {"rps": results, "cpu": cpu}


def client_bench(args) -> dict:
    """Python clients as load generators against the C echo server."""
    out = {}
    for rnd in range(args.rounds):
        for loop_kind in ("asyncio", "uvloop"):
            for who in ("wskit", "websockets"):
                srv = Server("c")
                try:
                    if who == "wskit":
                        cmd = [VENV_PY, "-m", "wskit", "bench", "--loop", loop_kind, srv.url,
                               "-c", str(args.conns), "--size", str(args.size), "--binary",
                               "-d", str(args.duration), "--no-compression", "--json", "-q"]
                    else:
                        cmd = [VENV_PY, HERE, "--ws-client", srv.url, str(args.conns),
                               str(args.size), str(args.duration), loop_kind]
                    try:
                        r = subprocess.run(pin(cmd, 1), capture_output=True, text=True,
                                           timeout=args.duration + 25,
                                           cwd=os.path.join(ROOT, "python"))
                        rps = float(json.loads(r.stdout)["msgs_per_s"])
                    except (subprocess.TimeoutExpired, ValueError, KeyError) as exc:
                        sys.stderr.write(f"  {who} client failed: {exc}\n")
                        rps = 0.0
                finally:
                    srv.stop()
                out.setdefault((who, loop_kind), []).append(rps)
                print(f"  round {rnd + 1}: {who:10} client, {loop_kind:8}: {fmt(rps):>8} rt/s",
                      flush=True)
    return out


def idle_memory(args) -> dict:
    out = {}
    for kind in SERVER_KINDS:
        srv = Server(kind, "asyncio")
        try:
            def hold(n):
                p = subprocess.Popen(pin([VENV_PY, HERE, "--idle-client", srv.url, str(n), "60"],
                                         1),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=os.path.join(ROOT, "python"))
                line = p.stdout.readline()  # bounded: the child gives up after 30 s
                opened = int(line.split()[1]) if line.startswith("OPEN") else 0
                return p, opened

            p1, o1 = hold(1)
            time.sleep(1.0)
            base = srv.rss_kib()
            pn, on = hold(args.idle_conns)
            time.sleep(1.5)
            full = srv.rss_kib()
            for p in (p1, pn):
                p.stdin.close()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
            per = (full - base) * 1024 / max(on, 1)
            out[kind] = {"open": on, "base_kib": base, "full_kib": full, "per_conn_b": per}
            print(f"  {LABEL[kind]:16}: RSS {base} KiB with 1, {full} KiB with {on + o1}: "
                  f"{per / 1024:.1f} KiB per connection", flush=True)
        finally:
            srv.stop()
    return out


def report(args, tp, cl, mem) -> None:
    rps, cpu = tp["rps"], tp["cpu"]
    med = {c: summary(v) for c, v in rps.items()}
    ref = med[("c", "-", 1)][0]
    base_ws = {lk: med[("websockets", lk, 1)][0] for lk in ("asyncio", "uvloop")}
    base_aio = {lk: med[("aiohttp", lk, 1)][0] for lk in ("asyncio", "uvloop")}
    tset = "server on core 0, loadgen on core 1" if have_taskset() else "not pinned"
    print()
    print(f"Echo servers, C loadgen, {args.conns} connections, {args.size} B binary, "
          f"{args.duration:g} s x {args.rounds} rounds ({tset}); median (min-max):")
    print()
    print("| server | loop | depth | round trips/s | spread | server CPU % | "
          "rt per server CPU-s | vs websockets | vs aiohttp | vs C echo |")
    print("|---|---|---|---:|---|---:|---:|---:|---:|---:|")
    for case, (m, spread) in med.items():
        kind, lk, depth = case
        c = [x for x in cpu[case] if x >= 0]
        cpus = f"{statistics.median(c):.0f}" if c else "?"
        per_cpu = fmt(m / (statistics.median(c) / 100)) if c and statistics.median(c) > 0 else "?"
        key = lk if lk != "-" else "asyncio"
        vs_ws = f"{m / base_ws[key]:.2f}x" if base_ws[key] and depth == 1 else ""
        vs_aio = f"{m / base_aio[key]:.2f}x" if base_aio[key] and depth == 1 else ""
        vs_c = f"{m / ref:.2f}x" if ref and depth == 1 else ""
        print(f"| {LABEL[kind]} | {lk} | {depth} | {fmt(m)} | {spread} | {cpus} | {per_cpu} | {vs_ws} | "
              f"{vs_aio} | {vs_c} |")
    if cl:
        print()
        print("Python clients as load generators against the C echo server "
              "(same shape):")
        print()
        print("| client | loop | round trips/s | spread | vs websockets' client |")
        print("|---|---|---:|---|---:|")
        for lk in ("asyncio", "uvloop"):
            wsm = summary(cl.get(("websockets", lk), []))[0]
            for who in ("wskit", "websockets"):
                m, spread = summary(cl.get((who, lk), []))
                ratio = f"{m / wsm:.2f}x" if wsm else ""
                name = "wskit bench (Handler)" if who == "wskit" else "websockets.connect"
                print(f"| {name} | {lk} | {fmt(m)} | {spread} | {ratio} |")
    if mem:
        print()
        print("Memory per idle server connection (asyncio loop; RSS with N idle minus RSS "
              "with one):")
        print()
        print("| server | idle conns | RSS with 1 (KiB) | RSS with N (KiB) | per connection |")
        print("|---|---:|---:|---:|---:|")
        for kind, r in mem.items():
            print(f"| {LABEL[kind]} | {r['open']} | {r['base_kib']:,} | {r['full_kib']:,} | "
                  f"{r['per_conn_b'] / 1024:.1f} KiB |")
    # the aims
    print()
    print("Aims:")

    def aim(text, ok):
        print(f"  [{'met' if ok else 'MISSED'}] {text}")
    a = med[("wskit-await", "asyncio", 1)][0]
    h = med[("wskit-handler", "asyncio", 1)][0]
    au = med[("wskit-await", "uvloop", 1)][0]
    hu = med[("wskit-handler", "uvloop", 1)][0]
    def eff(case):  # round trips per second of server CPU
        c = [x for x in cpu.get(case, []) if x > 0]
        return med[case][0] / (statistics.median(c) / 100) if c else 0.0
    wse, aioe = eff(("websockets", "asyncio", 1)), eff(("aiohttp", "asyncio", 1))
    print(f"  (per second of server CPU, asyncio: awaitable "
          f"{eff(('wskit-await', 'asyncio', 1)) / max(wse, 1):.2f}x websockets, "
          f"{eff(('wskit-await', 'asyncio', 1)) / max(aioe, 1):.2f}x aiohttp; Handler "
          f"{eff(('wskit-handler', 'asyncio', 1)) / max(wse, 1):.2f}x websockets)")
    aim(f"awaitable >= 3x websockets (asyncio): {a / max(base_ws['asyncio'], 1):.2f}x",
        a >= 3 * base_ws["asyncio"])
    aim(f"awaitable >= 2x aiohttp (asyncio): {a / max(base_aio['asyncio'], 1):.2f}x",
        a >= 2 * base_aio["asyncio"])
    aim(f"Handler >= 4.5x websockets (asyncio): {h / max(base_ws['asyncio'], 1):.2f}x",
        h >= 4.5 * base_ws["asyncio"])
    aim(f"awaitable higher under uvloop: {au / max(a, 1):.2f}x", au > a)
    aim(f"Handler higher under uvloop: {hu / max(h, 1):.2f}x", hu > h)
    aim(f"awaitable/uvloop within 2x of C echo: {au / max(ref, 1):.2f} of it", 2 * au >= ref)
    aim(f"Handler/uvloop within 2x of C echo: {hu / max(ref, 1):.2f} of it", 2 * hu >= ref)
    for kind in ("wskit-await", "wskit-handler"):
        if kind in mem:
            per = mem[kind]["per_conn_b"] / 1024
            aim(f"{LABEL[kind]} idle connection < 8 KiB: {per:.1f} KiB", per < 8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2, help="repeats of the throughput passes (2)")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds measured per case (3)")
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--idle-conns", type=int, default=3000)
    ap.add_argument("--pipelined", action="store_true", help="also depth 8 (pipelined)")
    ap.add_argument("--skip", action="append", default=[],
                    choices=("servers", "clients", "memory"), help="skip a part")
    args = ap.parse_args()
    raise_nofile(args.idle_conns * 2 + 100)
    build()
    t0 = time.monotonic()
    tp = {"rps": {}, "cpu": {}}
    cl, mem = {}, {}
    if "servers" not in args.skip:
        print("echo servers driven by the C loadgen:", flush=True)
        tp = throughput(args)
    if "clients" not in args.skip:
        print("Python clients against the C echo server:", flush=True)
        cl = client_bench(args)
    if "memory" not in args.skip:
        print(f"idle memory ({args.idle_conns} connections):", flush=True)
        mem = idle_memory(args)
    if tp["rps"]:
        report(args, tp, cl, mem)
    print(f"\n(total {time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        sys.exit(serve_main(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    if len(sys.argv) > 1 and sys.argv[1] == "--ws-client":
        a = sys.argv[2:]
        sys.exit(ws_client_main(a[0], int(a[1]), int(a[2]), float(a[3]), a[4]))
    if len(sys.argv) > 1 and sys.argv[1] == "--idle-client":
        a = sys.argv[2:]
        sys.exit(idle_client_main(a[0], int(a[1]), float(a[2])))
    sys.exit(main())
