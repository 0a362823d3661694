"""Our C client (examples/c/client) against real servers: python3-websockets
10.4 and node ws 8, plus a raw socket server for misbehaviour."""
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import NODE_ENV, Proc, free_port

PY_SERVER = r"""
import asyncio, json, sys, websockets
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
port, mode = int(sys.argv[1]), sys.argv[2]
async def handler(ws, path=None):
    if mode == "close1001":
        await ws.close(1001, "going away"); return
    async for m in ws:
        if mode == "rpc":
            req = json.loads(m)
            if req["method"] == "echo":
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": req.get("params")}))
            elif req["method"] == "die":
                sys.stdout.write("dying\n"); sys.stdout.flush()
                import os; os._exit(0)
            continue  # "slow": never answered
        await ws.send(m)
async def main():
    kw = dict(max_size=None)
    if mode == "nocompress": kw["compression"] = None
    if mode == "nct":
        kw["extensions"] = [ServerPerMessageDeflateFactory(server_no_context_takeover=True,
                                                           client_no_context_takeover=True)]
    async with websockets.serve(handler, "127.0.0.1", port, **kw):
        sys.stdout.write("ready\n"); sys.stdout.flush()
        await asyncio.sleep(60)
asyncio.run(main())
"""

NODE_SERVER = r"""
const WebSocket = require('ws');
const port = +process.argv[1], deflate = process.argv[2] === '1';
const wss = new WebSocket.WebSocketServer({host: '127.0.0.1', port, perMessageDeflate: deflate, maxPayload: 64 << 20});
wss.on('connection', (ws) => { ws.on('message', (d, bin) => ws.send(d, {binary: bin})); });
wss.on('listening', () => console.log('ready'));
setTimeout(() => process.exit(0), 60000);
"""


def py_server(port, mode="echo"):
    p = Proc([sys.executable, "-c", PY_SERVER, str(port), mode])
    p.wait_line(lambda l: l == "ready")
    return p


def node_server(port, deflate="1"):
    p = Proc(["node", "-e", NODE_SERVER, str(port), deflate], env=NODE_ENV)
    p.wait_line(lambda l: l == "ready")
    return p


@pytest.fixture
def peers():
    procs = []
    yield procs
    for p in procs:
        p.stop()


def checksum(data):
    s = 0
    for b in data:
        s = (s * 31 + b) & 0xFFFFFFFFFFFFFFFF
    return s


def pattern_sum(n):
    # the client's /binary pattern: byte i is (i*7+3) & 0xff
    block = bytes(((i * 7 + 3) & 0xFF) for i in range(256))
    data = (block * (n // 256 + 1))[:n]
    return checksum(data)


@pytest.mark.parametrize("mode", ["echo", "nocompress", "nct"])
def test_client_against_python_websockets(run_client, peers, mode):
    port = free_port()
    peers.append(py_server(port, mode))
    c = run_client(f"ws://127.0.0.1:{port}/")
    opened = c.wait_line(lambda l: l.startswith("open "))
    assert ("deflate=1" in opened) == (mode != "nocompress")
    if mode == "nct":
        assert "snct=1 cnct=1" in opened
    c.send("hello python")
    c.wait_line(lambda l: l == "text hello python")
    c.send("/binary 100000")
    c.wait_line(lambda l: l == f"binary len=100000 sum={pattern_sum(100000)}")
    c.send("/ping")
    c.wait_line(lambda l: l.startswith("pong id=1"))
    c.close_stdin()
    c.wait_line(lambda l: l.startswith("close code=1000 sent=1000 clean=1"))
    assert c.wait(5) == 0


def test_client_16_mib_fragmented_against_python(run_client, peers):
    port = free_port()
    peers.append(py_server(port))
    c = run_client(f"ws://127.0.0.1:{port}/")
    c.wait_line(lambda l: l.startswith("open "))
    c.send("/fragments 16 1048576")
    line = c.wait_line(lambda l: l.startswith("binary len="), timeout=30)
    assert line == f"binary len={16 << 20} sum={pattern_sum(16 << 20)}"
    c.close_stdin()
    assert c.wait(10) == 0


@pytest.mark.parametrize("deflate", ["1", "0"])
def test_client_against_node_ws(run_client, peers, deflate):
    port = free_port()
    peers.append(node_server(port, deflate))
    c = run_client(f"ws://127.0.0.1:{port}/")
    opened = c.wait_line(lambda l: l.startswith("open "))
    assert ("deflate=1" in opened) == (deflate == "1")
    c.send("hello node")
    c.wait_line(lambda l: l == "text hello node")
    c.send(f"/binary {16 << 20}")
    c.wait_line(lambda l: l == f"binary len={16 << 20} sum={pattern_sum(16 << 20)}", timeout=30)
    c.close_stdin()
    c.wait_line(lambda l: l.startswith("close code=1000"))


def test_server_closes_with_1001(run_client, peers):
    port = free_port()
    peers.append(py_server(port, "close1001"))
    c = run_client(f"ws://127.0.0.1:{port}/")
    c.wait_line(lambda l: l.startswith("close code=1001 sent=1001 clean=1"))


def test_reconnects_after_the_server_is_killed_and_restarted(run_client, peers):
    port = free_port()
    srv = py_server(port)
    c = run_client(f"ws://127.0.0.1:{port}/", "--reconnect")
    c.wait_line(lambda l: l.startswith("open "))
    srv.p.kill()
    srv.p.wait(5)
    c.wait_line(lambda l: l.startswith("close code=1006") and "will_retry=1" in l)
    n = len(c.lines)
    c.wait_line(lambda l: "will_retry=1" in l and "opened=0" in l, start=n)  # refused
    c.send("while down")
    c.wait_line(lambda l: l == "send-error ECLOSED")
    peers.append(py_server(port))
    c.wait_line(lambda l: l.startswith("open "), start=n)
    c.send("back")
    c.wait_line(lambda l: l == "text back")
    c.close_stdin()
    c.wait_line(lambda l: "will_retry=0" in l)


def test_offline_queue_sends_after_reconnect(run_client, peers):
    port = free_port()
    srv = py_server(port)
    c = run_client(f"ws://127.0.0.1:{port}/", "--reconnect", "--queue", 1000)
    c.wait_line(lambda l: l.startswith("open "))
    srv.p.kill()
    srv.p.wait(5)
    c.wait_line(lambda l: l.startswith("close code=1006"))
    c.send("queued while down")
    peers.append(py_server(port))
    c.wait_line(lambda l: l == "text queued while down", timeout=15)
    c.close_stdin()


def raw_server(port, answer, then=b""):
    """Accept one connection, read the request, answer, send `then`, wait."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1)

    def run():
        s, _ = ls.accept()
        s.settimeout(5)
        req = b""
        while b"\r\n\r\n" not in req:
            req += s.recv(4096)
        key = [l.split(b":", 1)[1].strip() for l in req.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key")][0]
        import base64, hashlib
        acc = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        s.sendall(answer.replace(b"ACCEPT", acc) + then)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
        ls.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


UPGRADE = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Accept: ACCEPT\r\n\r\n")


def test_garbage_from_the_server_gets_1002(run_client):
    port = free_port()
    raw_server(port, UPGRADE, b"\x81\x85abcde")  # a masked frame from a server
    c = run_client(f"ws://127.0.0.1:{port}/")
    c.wait_line(lambda l: l.startswith("open "))
    c.wait_line(lambda l: l.startswith("close ") and "sent=1002" in l)


def test_refused_handshake_reports_the_status(run_client):
    port = free_port()
    raw_server(port, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
    c = run_client(f"ws://127.0.0.1:{port}/", "--reconnect")
    c.wait_line(lambda l: l.startswith("close ") and "status=403 will_retry=0" in l)


def test_requests_time_out_and_fail_when_the_server_goes(run_client, peers):
    port = free_port()
    peers.append(py_server(port, "rpc"))
    c = run_client(f"ws://127.0.0.1:{port}/")
    c.wait_line(lambda l: l.startswith("open "))
    c.send('/rpc echo 2000 {"a":1}')
    c.wait_line(lambda l: l.startswith("reply id=1 err=0") and 'result={"a":1}' in l)
    c.send("/rpc slow 200")
    t0 = time.monotonic()
    c.wait_line(lambda l: l.startswith("reply id=2 err=ETIMEDOUT"))
    assert time.monotonic() - t0 < 3
    c.send("/rpc slow 10000")
    c.wait_line(lambda l: l == "request id=3")
    c.send("/rpc die 10000")
    c.wait_line(lambda l: l.startswith("reply id=3 err=ECANCELED"))
    c.wait_line(lambda l: l.startswith("reply id=4 err=ECANCELED"))
    c.wait_line(lambda l: l.startswith("close code=1006"))
