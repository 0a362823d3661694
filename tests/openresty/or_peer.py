"""The Python peer (websockets 10.4) that resty.wskit.client talks to.

Runs in a background thread with its own event loop: one plain server and
three TLS servers (one with a certificate the nginx under test trusts, one
signed by a CA it does not, one that also requires a client certificate). The path picks the behaviour; what the peer
saw (close codes, connection counts) is kept in `Peer.seen`.
"""
import asyncio
import hashlib
import http
import json
import os
import threading
import urllib.parse
from collections import defaultdict

import websockets

BIG = 1 << 20


def big_payload():
    # 1 MiB, compressible but not trivial
    block = hashlib.sha256(b"wskit").digest() * 64
    return (block * (BIG // len(block) + 1))[:BIG]


class Peer:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()
        self.seen = defaultdict(list)  # path -> close codes received
        self.connections = defaultdict(int)  # path -> connections accepted
        self.flaky_count = 0
        self.servers = []

    # ---- lifecycle ----
    def start(self, tls_ctx=None, bad_tls_ctx=None, mtls_ctx=None):
        self.tls_ctx, self.bad_tls_ctx, self.mtls_ctx = tls_ctx, bad_tls_ctx, mtls_ctx
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("peer did not start")
        return self

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())
        self.ready.set()
        self.loop.run_forever()

    async def _serve(self):
        async def serve(ssl=None):
            s = await websockets.serve(self.handler, "127.0.0.1", 0, ssl=ssl,
                                       process_request=self.process_request,
                                       subprotocols=["a", "c"], max_size=None)
            self.servers.append(s)
            return s.sockets[0].getsockname()[1]

        self.port = await serve()
        self.tls_port = await serve(self.tls_ctx) if self.tls_ctx else None
        self.bad_tls_port = await serve(self.bad_tls_ctx) if self.bad_tls_ctx else None
        self.mtls_port = await serve(self.mtls_ctx) if self.mtls_ctx else None

    def stop(self):
        async def close():
            for s in self.servers:
                s.close()
                await s.wait_closed()
        fut = asyncio.run_coroutine_threadsafe(close(), self.loop)
        try:
            fut.result(5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)

    # ---- behaviours ----
    async def process_request(self, path, headers):
        p = urllib.parse.urlparse(path).path
        if p in ("/reject", "/flaky_reject"):
            self.connections[p] += 1
            return http.HTTPStatus.FORBIDDEN, [("X-Why", "test")], b"go away\n"
        return None

    async def handler(self, ws, path=None):
        url = urllib.parse.urlparse(ws.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        p = url.path
        self.connections[p] += 1
        try:
            await getattr(self, "on_" + p.strip("/").replace("/", "_"), self.on_echo)(ws, q)
        except websockets.ConnectionClosed:
            pass
        finally:
            await ws.wait_closed()
            self.seen[p].append(ws.close_code)

    async def on_echo(self, ws, q):
        async for msg in ws:
            await ws.send(msg)

    async def on_big(self, ws, q):
        data = big_payload()
        chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
        await ws.send(chunks)  # an iterable: sent as fragments
        back = await ws.recv()
        await ws.send("ok" if back == data else "mismatch %d" % len(back))
        await ws.wait_closed()

    async def on_close(self, ws, q):
        await ws.recv()
        await ws.close(int(q.get("code", 1000)), q.get("reason", ""))

    async def on_send(self, ws, q):
        await ws.send(os.urandom(int(q.get("n", 10))))
        await ws.wait_closed()

    async def on_silent(self, ws, q):
        msg = await ws.recv()
        await ws.send(msg)
        await ws.wait_closed()

    async def on_rpc(self, ws, q):
        async for msg in ws:
            if msg == "plain":
                await ws.send("plain")
                continue
            if msg == "ask me":
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": "s1",
                                          "method": "double", "params": [21]}))
                reply = json.loads(await ws.recv())
                await ws.send("asked:%s" % reply.get("result"))
                continue
            req = json.loads(msg)
            if "id" not in req:
                continue  # notification
            m = req["method"]
            if m == "sum":
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": req["id"],
                                          "result": sum(req["params"])}))
            elif m == "fail":
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": req["id"],
                                          "error": {"code": 42, "message": "no"}}))
            # "never": no answer

    async def on_flaky(self, ws, q):
        # the first two connections are closed with 1012 (service restart)
        self.flaky_count += 1
        n = self.flaky_count
        await ws.send("welcome %d" % n)
        await ws.recv()  # the bot's hello
        if n <= 2:
            await ws.close(1012, "restarting")
            return
        async for msg in ws:
            await ws.send(msg)
