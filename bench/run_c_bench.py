#!/usr/bin/python3
"""The libuv driver's benchmarks (`make bench-c`): echo round trips and
memory per idle connection, ours against a raw TCP echo (the ceiling) and
node ws, in one run, with the results as Markdown tables.

Servers: build/examples/echo_server (ours), build/bench/raw_echo (epoll,
plain TCP), bench/ws_echo_node.js (node ws 8, perMessageDeflate off), and
for memory also a python3-websockets 10.4 echo server. With taskset and two
or more CPUs the server runs on CPU 0 and the load generator on CPU 1.

Throughput: build/bench/loadgen, CONNS connections, depth messages in
flight each, for every size; every configuration ROUNDS times, interleaved,
reported as the median with the range. Clients:
  raw     loadgen --raw  -> raw_echo
  ours    loadgen --lean -> echo_server   (the client costs what --raw costs)
  ours/d  loadgen (the driver's own client) -> echo_server
  node    loadgen --lean -> node ws
Ratios use the lean client: ours / raw, ours / node.

Memory: server RSS with IDLE idle connections minus RSS with one, divided by
IDLE - 1 (loadgen --idle opens them, no compression, no TLS).

Everything is bounded: each loadgen run stops after its duration, every
subprocess has a timeout, and servers are killed at the end.
"""
import argparse
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_ENV = dict(os.environ, NODE_PATH="/usr/share/nodejs")

PY_SERVER = r"""
import asyncio, sys, websockets
async def echo(ws, path=None):
    async for m in ws:
        await ws.send(m)
async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, compression=None, backlog=1024,
                                max_size=64 << 20) as srv:
        print("listening", srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
"""


class Server:
    """A server subprocess that prints "listening PORT" first."""

    def __init__(self, name, args, env=None, cpu=None):
        self.name = name
        pre = ["taskset", "-c", str(cpu)] if cpu is not None else []
        self.p = subprocess.Popen(pre + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, text=True, env=env)
        self.port = None
        got = []
        t = threading.Thread(target=lambda: got.append(self.p.stdout.readline()), daemon=True)
        t.start()
        t.join(15)
        line = got[0] if got else ""
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"{name}: did not start: {line!r} {self.p.stderr.read()[-500:]}")
        self.port = int(line.split()[1])
        # keep draining stdout so the server never blocks on a full pipe
        threading.Thread(target=lambda: [None for _ in self.p.stdout], daemon=True).start()

    def rss_kib(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)


def parse_result(out):
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return dict(kv.split("=", 1) for kv in line.split()[1:])
    return None


def busy_cpu():
    """CPU seconds all CPUs spent busy so far (from /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def wait_quiet(limit, max_wait):
    """Wait (at most max_wait s) until the machine's busy CPU, measured over
    half a second while our servers idle, is under limit % of one CPU."""
    t_end = time.monotonic() + max_wait
    while True:
        b0 = busy_cpu()
        time.sleep(0.5)
        load = (busy_cpu() - b0) / 0.5 * 100
        if load <= limit or time.monotonic() >= t_end:
            return load


def us_per_rt(res, key):
    """CPU microseconds per round trip of the server ("server_cpu") or the
    load generator ("cpu"): robust to other work sharing the machine."""
    rps, cpu = float(res["rps"]), float(res[key])
    return cpu / 100 / rps * 1e6 if rps > 0 and cpu >= 0 else float("nan")


def run_loadgen(a, pre, args, timeout):
    r = subprocess.run(pre + [a.loadgen] + args, capture_output=True, text=True, timeout=timeout)
    res = parse_result(r.stdout)
    if res is None or r.returncode != 0:
        raise RuntimeError(f"loadgen {' '.join(args)} failed ({r.returncode}): "
                           f"{r.stdout[-400:]} {r.stderr[-400:]}")
    return res


def fmt_int(x):
    return f"{x:,.0f}"


def spread(vals):
    return f"{fmt_int(min(vals))}-{fmt_int(max(vals))}"


def human_size(n):
    return f"{n // 1024} KiB" if n >= 1024 and n % 1024 == 0 else f"{n} B"


def throughput(a, servers, lg_pre):
    modes = [
        ("raw", servers["raw"], ["--raw"], "tcp"),
        ("ours", servers["ours"], ["--lean"], "ws"),
        ("ours/d", servers["ours"], [], "ws"),
        ("node", servers["node"], ["--lean"], "ws"),
    ]
    results = {}  # (mode, size) -> [result dicts]
    t_end = a.seconds + a.warmup + 20
    for rnd in range(a.rounds):
        for size in a.sizes:
            for name, srv, extra, scheme in modes:
                url = f"{scheme}://127.0.0.1:{srv.port}/"
                args = ["-q", "-c", str(a.conns), "-s", str(size), "-p", str(a.depth),
                        "-d", str(a.seconds), "-w", str(a.warmup), "--server-pid",
                        str(srv.p.pid)] + extra + [url]
                # other processes on the machine (shared with other work) make a
                # run meaningless: retry it a few times, keep the quietest
                res = None
                for _ in range(1 + a.retries):
                    wait_quiet(a.max_other, a.quiet_wait)
                    r = run_loadgen(a, lg_pre, args, t_end)
                    if res is None or float(r["other_cpu"]) < float(res["other_cpu"]):
                        res = r
                    if float(res["other_cpu"]) <= a.max_other:
                        break
                    time.sleep(1)
                results.setdefault((name, size), []).append(res)
                print(f"  round {rnd + 1} {human_size(size):>7} {name:7} "
                      f"{fmt_int(float(res['rps'])):>9} rt/s  p50 {float(res['p50_us']):8.1f} us  "
                      f"p99 {float(res['p99_us']):8.1f} us  cpu loadgen {float(res['cpu']):3.0f} % "
                      f"server {float(res['server_cpu']):3.0f} % others {float(res['other_cpu']):3.0f} %",
                      flush=True)
    return results


def quiet_runs(a, runs):
    """The runs other processes did not disturb (all of them when none)."""
    q = [r for r in runs if float(r["other_cpu"]) <= a.max_other]
    return q or runs


def median_run(runs):
    """The run with the median round trips per second."""
    s = sorted(runs, key=lambda r: float(r["rps"]))
    return s[len(s) // 2]


def report_throughput(a, results):
    out = []
    out.append(f"Echo round trips per second, {a.conns} connections, {a.depth} message(s) in "
               f"flight each, binary messages, {a.seconds:g} s measured after {a.warmup:g} s "
               f"warm-up, median of {a.rounds} (range):")
    out.append("")
    out.append("| size | raw TCP echo | ours (lean client) | ours (driver client) | node ws (lean client) "
               "| ours / raw | ours / node |")
    out.append("|---|---|---|---|---|---|---|")
    ratios = {}
    for size in a.sizes:
        cells = []
        med = {}
        for name in ("raw", "ours", "ours/d", "node"):
            vals = [float(r["rps"]) for r in results[(name, size)]]
            med[name] = statistics.median(vals)
            cells.append(f"{fmt_int(med[name])} ({spread(vals)})")
        r_raw = med["ours"] / med["raw"] if med["raw"] else 0
        r_node = med["ours"] / med["node"] if med["node"] else 0
        ratios[size] = (r_raw, r_node)
        out.append(f"| {human_size(size)} | " + " | ".join(cells) +
                   f" | {r_raw:.2f} | {r_node:.2f} |")
    out.append("")
    out.append("Latency of the median run (p50 / p99 / max, microseconds) and the CPU used by "
               "the server / the load generator / other processes during it (% of one CPU):")
    out.append("")
    out.append("| size | raw TCP echo | ours (lean) | ours (driver client) | node ws (lean) |")
    out.append("|---|---|---|---|---|")
    for size in a.sizes:
        cells = []
        for name in ("raw", "ours", "ours/d", "node"):
            r = median_run(results[(name, size)])
            cells.append(f"{float(r['p50_us']):.0f} / {float(r['p99_us']):.0f} / "
                         f"{float(r['max_us']):.0f}; cpu {float(r['server_cpu']):.0f} / "
                         f"{float(r['cpu']):.0f} / {float(r['other_cpu']):.0f}")
        out.append(f"| {human_size(size)} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Server CPU per round trip (microseconds; median over the runs that other "
               f"processes disturbed by at most {a.max_other:g} % of a CPU, all runs when none; less "
               "sensitive to other work on the machine than the rates) and the load generator's:")
    out.append("")
    out.append("| size | raw TCP echo | ours (lean) | ours (driver client) | node ws (lean) "
               "| raw / ours | loadgen: raw / lean / driver client |")
    out.append("|---|---|---|---|---|---|---|")
    for size in a.sizes:
        c = {n: statistics.median(us_per_rt(r, "server_cpu") for r in quiet_runs(a, results[(n, size)]))
             for n in ("raw", "ours", "ours/d", "node")}
        lg = {n: statistics.median(us_per_rt(r, "cpu") for r in quiet_runs(a, results[(n, size)]))
              for n in ("raw", "ours", "ours/d")}
        out.append(f"| {human_size(size)} | {c['raw']:.2f} | {c['ours']:.2f} | {c['ours/d']:.2f} | "
                   f"{c['node']:.2f} | {c['raw'] / c['ours']:.2f} | {lg['raw']:.2f} / {lg['ours']:.2f} / "
                   f"{lg['ours/d']:.2f} |")
        ratios[size] = ratios[size] + (c["raw"] / c["ours"],)
    out.append("")
    out.append("MB/s (payload, one direction) = round trips/s x size: " + ", ".join(
        f"{human_size(s)}: ours {statistics.median(float(r['mbps']) for r in results[('ours', s)]):,.0f}"
        f", raw {statistics.median(float(r['mbps']) for r in results[('raw', s)]):,.0f}"
        for s in a.sizes))
    return out, ratios


def check_loadgen(a, servers, lg_pre):
    """1 loadgen process with CONNS connections vs 2 with CONNS/2 each, at
    the same time on the same core: if the total rises, one process was not
    using its core and was the limit."""
    out = ["", "Load generator check (32 B, same core budget): one process with "
           f"{a.conns} connections vs two with {a.conns // 2} each, round trips/s:", "",
           "| client -> server | 1 process | 2 processes | ratio |", "|---|---|---|---|"]
    t_end = a.seconds + a.warmup + 20
    for name, srv, extra, scheme in (("raw -> raw_echo", servers["raw"], ["--raw"], "tcp"),
                                     ("lean -> ours", servers["ours"], ["--lean"], "ws"),
                                     ("driver -> ours", servers["ours"], [], "ws")):
        url = f"{scheme}://127.0.0.1:{srv.port}/"
        base = ["-q", "-s", "32", "-p", str(a.depth), "-d", str(a.seconds), "-w", str(a.warmup)]
        wait_quiet(a.max_other, a.quiet_wait)
        r1 = run_loadgen(a, lg_pre, base + ["-c", str(a.conns), "--server-pid", str(srv.p.pid)] + extra + [url],
                         t_end)
        one = float(r1["rps"])
        wait_quiet(a.max_other, a.quiet_wait)
        procs = [subprocess.Popen(lg_pre + [a.loadgen] + base + ["-c", str(a.conns // 2)] + extra + [url],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        two = 0.0
        for p in procs:
            o, _ = p.communicate(timeout=t_end)
            r = parse_result(o)
            two += float(r["rps"]) if r else 0
        out.append(f"| {name} | {fmt_int(one)} (cpu: server {float(r1['server_cpu']):.0f} %, loadgen "
                   f"{float(r1['cpu']):.0f} %, others {float(r1['other_cpu']):.0f} %) | {fmt_int(two)} | "
                   f"{two / one:.2f} |")
        print(out[-1], flush=True)
    return out


def idle_memory(a, name, make_server, lg_pre):
    """(bytes per idle connection, rss with 1, rss with n) for one server."""
    srv = make_server()
    hold = []
    try:
        def open_idle(n):
            p = subprocess.Popen(lg_pre + [a.loadgen, "--idle", "-c", str(n), "-d", "120",
                                           "--connect-timeout", "60",
                                           f"ws://127.0.0.1:{srv.port}/"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            hold.append(p)
            got = []
            t = threading.Thread(target=lambda: got.append(p.stdout.readline()), daemon=True)
            t.start()
            t.join(90)
            line = got[0] if got else ""
            if not line.startswith("idle open=") or f"open={n} " not in line + " ":
                raise RuntimeError(f"{name}: idle connections did not open: {line!r}")
            time.sleep(1.5)  # let the server settle (and node / python collect garbage)
            return srv.rss_kib()
        rss1 = open_idle(1)
        rssn = open_idle(a.idle - 1)
        return (rssn - rss1) * 1024 / (a.idle - 1), rss1, rssn
    finally:
        for p in hold:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in hold:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--sizes", default="32,1024,65536")
    ap.add_argument("--max-other", type=float, default=20,
                    help="retry a run when other processes used more CPU than this (%% of one CPU)")
    ap.add_argument("--retries", type=int, default=3)
    ap.add_argument("--quiet-wait", type=float, default=10,
                    help="before each run, wait up to this long for the machine to be quiet")
    ap.add_argument("--idle", type=int, default=10000, help="idle connections for the memory test (0: skip)")
    ap.add_argument("--no-python", action="store_true", help="skip the python websockets memory test")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--check-loadgen", action="store_true", help="also run 1 vs 2 loadgen processes")
    ap.add_argument("--no-pin", action="store_true", help="do not use taskset")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    a.sizes = [int(s) for s in a.sizes.split(",")]
    a.loadgen = os.path.join(a.build, "bench", "loadgen")
    raw_bin = os.path.join(a.build, "bench", "raw_echo")
    echo_bin = os.path.join(a.build, "examples", "echo_server")
    for b in (a.loadgen, raw_bin, echo_bin):
        if not os.access(b, os.X_OK):
            sys.exit(f"missing {b}: run `make bench-c` (or `make examples` and the bench-c binaries)")

    # 10,000 sockets in one process: raise the open-file limit to the hard limit
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.idle + 256
    if hard != resource.RLIM_INFINITY and hard < want:
        print(f"note: open-file hard limit {hard}; idle test reduced", file=sys.stderr)
        a.idle = max(0, hard - 256)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY else want, hard))

    pin = not a.no_pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2
    srv_cpu = 0 if pin else None
    lg_pre = ["taskset", "-c", "1"] if pin else []
    node_script = os.path.join(ROOT, "bench", "ws_echo_node.js")
    make = {
        "ours": lambda: Server("ours", [echo_bin, "0", "--quiet"], cpu=srv_cpu),
        "raw": lambda: Server("raw", [raw_bin, "0"], cpu=srv_cpu),
        "node": lambda: Server("node", ["node", node_script, "0"], env=NODE_ENV, cpu=srv_cpu),
        "python": lambda: Server("python", ["/usr/bin/python3", "-c", PY_SERVER], cpu=srv_cpu),
    }

    cpu_model = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    node_v = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    report = [f"Machine: {os.cpu_count()} CPUs ({cpu_model}), {platform.system()} {platform.release()}, "
              f"node {node_v}; " + ("server on CPU 0, loadgen on CPU 1 (taskset)." if pin else "not pinned."),
              ""]
    t0 = time.monotonic()
    ratios = {}
    if not a.no_throughput or a.check_loadgen:
        servers = {}
        try:
            for k in ("ours", "raw", "node"):
                servers[k] = make[k]()
            if not a.no_throughput:
                print("throughput:", flush=True)
                res = throughput(a, servers, lg_pre)
                lines, ratios = report_throughput(a, res)
                report += lines
            if a.check_loadgen:
                report += check_loadgen(a, servers, lg_pre)
        finally:
            for s in servers.values():
                s.stop()
    if a.idle > 1:
        print("idle memory:", flush=True)
        report += ["", f"Memory per idle connection: server RSS with {a.idle:,} idle connections "
                   f"minus RSS with one, / {a.idle - 1:,} (no TLS, no compression):", "",
                   "| server | RSS with 1 | RSS with " + f"{a.idle:,}" + " | per connection |",
                   "|---|---|---|---|"]
        names = ["ours", "node"] + ([] if a.no_python else ["python"])
        labels = {"ours": "ours (echo_server)", "node": "node ws 8", "python": "python websockets 10.4"}
        for n in names:
            try:
                per, r1, rn = idle_memory(a, n, make[n], lg_pre)
                report.append(f"| {labels[n]} | {r1:,} KiB | {rn:,} KiB | {per:,.0f} B |")
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                report.append(f"| {labels[n]} | failed: {e} | | |")
            print(report[-1], flush=True)
    report += ["", f"(took {time.monotonic() - t0:.0f} s)"]
    print()
    print("\n".join(report))
    if ratios:
        print()
        for size, (r_raw, r_node, r_cpu) in ratios.items():
            print(f"aim ours >= 0.90 x raw, {human_size(size)}: round trips/s {r_raw:.2f}, "
                  f"server CPU per round trip {r_cpu:.2f}: "
                  + ("met" if min(r_raw, r_cpu) >= 0.9 else "NOT met"))


if __name__ == "__main__":
    main()
