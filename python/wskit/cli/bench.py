"""``wskit bench URL``: load an echo server and measure round trips.

Opens ``-c`` connections, then for ``-d`` seconds each one sends a message,
waits for it to come back and sends the next (``--inflight`` keeps more
than one on the way). Prints progress every second on stderr, and a
summary on stdout: messages per second and round-trip latency (p50, p99,
max). The clients are wskit Handlers (callback style, no future per
message) so the load generator costs little next to the server.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import collections
import functools
import json
import math
import ssl
import sys
import time
from typing import Any, Deque, List, Optional

from .. import Handler, InvalidStatus, connect


def add_parser(sub: Any, parents: List[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench", parents=parents, help="load an echo server, print rate and latency",
        description="Drive N connections to an echo server for D seconds; print msgs/s "
                    "and round-trip latency.")
    p.add_argument("url", metavar="URL", help="ws:// or wss:// URL of an echo server")
    p.add_argument("-c", "--connections", type=int, default=10, metavar="N",
                   help="connections (default 10)")
    p.add_argument("-d", "--duration", type=float, default=5.0, metavar="SECONDS",
                   help="how long to send (default 5)")
    p.add_argument("--size", type=int, default=32, metavar="BYTES",
                   help="message size (default 32)")
    p.add_argument("--binary", action="store_true", help="send binary, not text, messages")
    p.add_argument("--inflight", type=int, default=1, metavar="K",
                   help="messages on the way per connection (default 1)")
    p.add_argument("--no-compression", action="store_true",
                   help="do not offer permessage-deflate")
    p.add_argument("--ca", metavar="FILE", help="trust the CA certificates in FILE (wss://)")
    p.add_argument("--insecure", action="store_true",
                   help="do not verify the server's certificate (wss://)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    for name in ("connections", "inflight", "size"):
        if getattr(args, name) < (0 if name == "size" else 1):
            print(f"wskit: --{name} is too small", file=sys.stderr)
            return 2
    if args.duration <= 0:
        print("wskit: --duration must be positive", file=sys.stderr)
        return 2
    try:
        bench = Bench(args)
    except OSError as exc:  # --ca: unreadable or not PEM (ssl.SSLError is an OSError)
        print(f"wskit: {exc}", file=sys.stderr)
        return 2
    from . import run
    return run(bench.run, args.loop)


class Run:
    """What every client of one run shares: the payload, the switch, the
    latencies (ns) measured while it is on."""

    __slots__ = ("payload", "inflight", "measuring", "sending", "latencies", "messages",
                 "closed_early")

    def __init__(self, payload: Any, inflight: int) -> None:
        self.payload = payload
        self.inflight = inflight
        self.measuring = False
        self.sending = True
        self.latencies = array.array("q")
        self.messages = 0
        self.closed_early = 0


class BenchClient(Handler):
    """One connection: send, wait for the echo, record, send again."""

    __slots__ = ("run", "sent_at")

    def __init__(self, run: Run) -> None:
        self.run = run
        self.sent_at: Deque[int] = collections.deque()

    def start(self) -> None:
        for _ in range(self.run.inflight):
            self.sent_at.append(time.perf_counter_ns())
            self.send(self.run.payload)

    def on_message(self, message: Any) -> None:
        now = time.perf_counter_ns()
        run = self.run
        sent_at = self.sent_at
        if sent_at:
            started = sent_at.popleft()
            if run.measuring:
                run.latencies.append(now - started)
                run.messages += 1
        if run.sending:
            sent_at.append(time.perf_counter_ns())
            self.send(run.payload)

    def on_close(self, code: int, reason: str) -> None:
        if self.run.sending:
            self.run.closed_early += 1


def percentile(ordered: Any, p: float) -> float:
    """The p-th percentile (nearest rank) of sorted values."""
    if not ordered:
        return 0.0
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100.0 * len(ordered)) - 1))
    return float(ordered[k])


class Bench:
    """One run of ``wskit bench``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        payload: Any = b"x" * args.size
        self.run_state = Run(payload if args.binary else payload.decode(), args.inflight)
        self.clients: List[BenchClient] = []
        self.failures: List[str] = []
        self.tty = sys.stderr.isatty()
        self.ssl: Optional[ssl.SSLContext] = None  # one context for every connection
        if args.url.lower().startswith("wss:"):
            self.ssl = ssl.create_default_context(cafile=args.ca)
            if args.insecure:
                self.ssl.check_hostname = False
                self.ssl.verify_mode = ssl.CERT_NONE

    def progress(self, text: str) -> None:
        if self.args.quiet:
            return
        if self.tty:  # one line, rewritten in place
            sys.stderr.write("\r\x1b[2K" + text)
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    async def _open_one(self, sem: asyncio.Semaphore) -> None:
        args = self.args
        async with sem:
            try:
                client = await connect(
                    args.url, protocol_class=functools.partial(BenchClient, self.run_state),
                    compression=None if args.no_compression else "deflate",
                    ping_interval=None, max_size=None, ssl=self.ssl, open_timeout=10)
            except InvalidStatus as exc:
                self.failures.append(f"HTTP {exc.response.status}")
                return
            except Exception as exc:  # refused, timeout, TLS...: counted and shown
                self.failures.append(str(exc) or type(exc).__name__)
                return
        self.clients.append(client)

    async def run(self) -> int:
        args = self.args
        state = self.run_state
        kind = "binary" if args.binary else "text"
        self.progress(f"opening {args.connections} connections to {args.url}")
        sem = asyncio.Semaphore(100)  # don't flood the listen backlog
        await asyncio.gather(*(self._open_one(sem) for _ in range(args.connections)))
        if not self.clients:
            print(f"wskit: no connection opened: {self.failures[0]}", file=sys.stderr)
            return 1
        # everyone is connected: start the clock and the traffic together
        for client in self.clients:
            client.start()
        state.measuring = True
        started = time.perf_counter()
        deadline = started + args.duration
        last_count, last_time = 0, started
        while True:
            now = time.perf_counter()
            if now >= deadline or (state.closed_early == len(self.clients)):
                break
            await asyncio.sleep(min(1.0, deadline - now))
            now = time.perf_counter()
            if now - last_time < 0.25:  # the last sliver before the deadline
                continue
            rate = (state.messages - last_count) / max(now - last_time, 1e-9)
            last_count, last_time = state.messages, now
            self.progress(f"{now - started:5.1f}/{args.duration:g} s  "
                          f"{len(self.clients) - state.closed_early} connections  "
                          f"{state.messages} messages  {rate:,.0f} msgs/s")
        elapsed = time.perf_counter() - started
        state.measuring = False
        state.sending = False
        if self.tty and not args.quiet:
            sys.stderr.write("\n")
        await self._close_all()
        return self._summary(elapsed, kind)

    async def _close_all(self) -> None:
        for client in self.clients:
            client.close(1000)
        waits = [c.wait_closed() for c in self.clients]
        try:
            await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), 5)
        except (asyncio.TimeoutError, TimeoutError):
            for client in self.clients:
                client.abort()

    def _summary(self, elapsed: float, kind: str) -> int:
        args, state = self.args, self.run_state
        ordered = sorted(state.latencies)
        rate = state.messages / elapsed if elapsed > 0 else 0.0
        ms = 1e-6
        result = {
            "url": args.url, "connections": len(self.clients), "failed": len(self.failures),
            "closed_early": state.closed_early, "duration": round(elapsed, 3),
            "size": args.size, "type": kind, "inflight": args.inflight,
            "messages": state.messages, "msgs_per_s": round(rate, 1),
            "latency_ms": {"p50": round(percentile(ordered, 50) * ms, 3),
                           "p99": round(percentile(ordered, 99) * ms, 3),
                           "max": round((ordered[-1] if ordered else 0) * ms, 3)},
        }
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            lat = result["latency_ms"]
            print(f"{args.url}: {len(self.clients)} connections"
                  + (f" ({len(self.failures)} failed: {self.failures[0]})"
                     if self.failures else "")
                  + f", {args.size}-byte {kind} messages, {args.inflight} in flight each")
            print(f"messages: {state.messages} in {elapsed:.2f} s = {rate:,.0f} msgs/s")
            print(f"latency:  p50 {lat['p50']:.3f} ms  p99 {lat['p99']:.3f} ms  "
                  f"max {lat['max']:.3f} ms")
            if state.closed_early:
                print(f"closed by the server before the end: {state.closed_early}")
        sys.stdout.flush()
        if state.messages == 0:
            print("wskit: no message came back; is this an echo server?", file=sys.stderr)
            return 1
        return 0
