"""Our C server (examples/c/echo_server, chat_server) against real
clients: python3-websockets 10.4 and node ws 8, plus raw sockets for what
well-behaved clients never do."""
import asyncio
import os
import signal
import socket
import time

import pytest
import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from conftest import arun, node, free_port

BIG = 16 << 20


def url(srv, path="/"):
    return f"ws://127.0.0.1:{srv.port}{path}"


# ---- python3-websockets client ----

def test_text_and_binary_echo_with_compression(echo_server):
    async def go():
        async with websockets.connect(url(echo_server)) as ws:
            assert ws.response_headers.get("Sec-WebSocket-Extensions", "").startswith("permessage-deflate")
            await ws.send("héllo")
            assert await ws.recv() == "héllo"
            await ws.send(b"\x00\xffbin")
            assert await ws.recv() == b"\x00\xffbin"
            await ws.send("x" * 100000)
            assert await ws.recv() == "x" * 100000
    arun(go())


def test_echo_without_compression(echo_server):
    async def go():
        async with websockets.connect(url(echo_server), compression=None) as ws:
            assert "Sec-WebSocket-Extensions" not in ws.response_headers
            await ws.send(b"abc" * 1000)
            assert await ws.recv() == b"abc" * 1000
    arun(go())


@pytest.mark.parametrize("opts", [
    dict(client_no_context_takeover=True),
    dict(server_no_context_takeover=True),
    dict(client_no_context_takeover=True, server_no_context_takeover=True),
    dict(server_max_window_bits=9, client_max_window_bits=10),
    dict(server_max_window_bits=12, client_max_window_bits=True),
    dict(server_max_window_bits=15),
])
def test_compression_context_takeover_options(echo_server, opts):
    async def go():
        factory = ClientPerMessageDeflateFactory(**opts)
        async with websockets.connect(url(echo_server), extensions=[factory]) as ws:
            ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
            if opts.get("server_no_context_takeover"):
                assert "server_no_context_takeover" in ext
            for i in range(20):  # several messages: the windows carry over (or not)
                msg = ("message %d " % i) * 50
                await ws.send(msg)
                assert await ws.recv() == msg
    arun(go())


@pytest.mark.parametrize("compression", ["deflate", None])
def test_16_mib_fragmented_message(echo_server, compression):
    async def go():
        async with websockets.connect(url(echo_server), max_size=None, compression=compression) as ws:
            async def pieces():
                for i in range(16):
                    yield bytes([i]) * (1 << 20)
            await ws.send(pieces())
            got = await ws.recv()
            assert len(got) == BIG
            assert got[:1] == b"\x00" and got[-1:] == b"\x0f"
            await ws.send("y" * BIG)  # and a whole text message of the same size
            assert await ws.recv() == "y" * BIG
    arun(go(), timeout=60)


def test_ping_pong(echo_server):
    async def go():
        async with websockets.connect(url(echo_server)) as ws:
            for _ in range(3):
                waiter = await ws.ping()
                await asyncio.wait_for(waiter, 5)
    arun(go())


def test_normal_close_1000(echo_server):
    async def go():
        ws = await websockets.connect(url(echo_server))
        await ws.close(1000, "bye")
        assert ws.close_code == 1000
    arun(go())
    echo_server.wait_line(lambda l: l.startswith("close code=1000 sent=1000 clean=1"))


def test_shutdown_closes_with_1001(echo_server):
    async def go():
        async with websockets.connect(url(echo_server)) as ws:
            await ws.send("hi")
            await ws.recv()
            echo_server.signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed) as e:
                await asyncio.wait_for(ws.recv(), 5)
            assert e.value.rcvd.code == 1001
    arun(go())
    echo_server.wait_line(lambda l: l == "shutdown aborted=0")
    assert echo_server.wait(5) == 0


def test_shutdown_1012_for_a_restart(server_factory):
    srv = server_factory("chat_server")

    async def go():
        async with websockets.connect(url(srv)) as ws:
            srv.signal(signal.SIGUSR1)
            with pytest.raises(websockets.ConnectionClosed) as e:
                await asyncio.wait_for(ws.recv(), 5)
            assert e.value.rcvd.code == 1012
    arun(go())
    assert srv.wait(5) == 0


def raw_upgrade(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s, head.split(b"\r\n\r\n", 1)[1]


def read_until_eof(s, initial=b"", limit=1 << 20):
    data = initial
    while len(data) < limit:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_garbage_from_the_peer_gets_1002(echo_server):
    s, rest = raw_upgrade(echo_server.port)
    s.sendall(b"\x8f\x80\x00\x00\x00\x00")  # reserved opcode 0xF, masked, empty
    data = read_until_eof(s, rest)
    assert data[:2] == b"\x88" + bytes([len(data) - 2])
    assert int.from_bytes(data[2:4], "big") == 1002
    s.close()
    echo_server.wait_line(lambda l: l.startswith("close code=1006 sent=1002"))


def test_lost_connection_is_1006(echo_server):
    s, _ = raw_upgrade(echo_server.port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # RST, no close frame
    echo_server.wait_line(lambda l: l.startswith("close code=1006 sent=0 clean=0 opened=1"))


def test_open_timeout_closes_a_silent_client(server_factory):
    srv = server_factory("echo_server", "--open-timeout", 300)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    t0 = time.monotonic()
    assert s.recv(100) == b""  # closed by the server
    took = time.monotonic() - t0
    assert 0.25 < took < 3
    srv.wait_line(lambda l: "opened=0" in l and "timed out" in l)


def test_keepalive_closes_a_peer_that_never_pongs(server_factory):
    srv = server_factory("echo_server", "--ping-interval", 100, "--ping-timeout", 200)
    s, rest = raw_upgrade(srv.port)
    data = read_until_eof(s, rest)  # pings (0x89), then a close frame with 1011
    i = data.find(b"\x88")
    assert i >= 0 and data[i + 2:i + 4] == (1011).to_bytes(2, "big"), data
    assert data.startswith(b"\x89")  # a ping came first
    s.close()


def test_plain_http_get_health(echo_server):
    s = socket.create_connection(("127.0.0.1", echo_server.port), timeout=5)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    data = read_until_eof(s)
    assert data.startswith(b"HTTP/1.1 200"), data
    assert data.endswith(b"\r\n\r\nok\n")


SANITIZED = "asan" in os.environ.get("WSK_EXAMPLES", "")
no_asan = pytest.mark.skipif(SANITIZED, reason="memory figures mean nothing under ASan")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@no_asan
def test_backpressure_peer_that_never_reads(server_factory):
    """A peer that sends and never reads: the server stops reading once its
    write queue is over the limit, so its memory stays bounded."""
    srv = server_factory("echo_server", "--write-limit", 65536, "--no-deflate", "--quiet")
    s, _ = raw_upgrade(srv.port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    before = rss_kib(srv.p.pid)
    payload = b"z" * 65536
    frame = b"\x82\xff" + len(payload).to_bytes(8, "big") + b"\x00\x00\x00\x00" + payload
    s.settimeout(2)
    sent = 0
    try:
        while sent < 200 << 20:
            s.sendall(frame)
            sent += len(frame)
    except socket.timeout:
        pass  # the server stopped reading: our sends block
    after = rss_kib(srv.p.pid)
    s.close()
    assert sent < 200 << 20, "the server kept reading everything"
    # The server holds at most the write limit plus one read's worth of
    # echoes; kernel buffers hold the rest (not in its RSS).
    assert after - before < 8 * 1024, (before, after, sent)


@no_asan
def test_idle_connection_memory(server_factory):
    """RSS per idle open connection (plain, no compression in use)."""
    srv = server_factory("echo_server", "--quiet")
    socks = []
    n = 2000
    # warm up allocator arenas and the read buffer
    for _ in range(50):
        socks.append(raw_upgrade(srv.port)[0])
    time.sleep(0.2)
    before = rss_kib(srv.p.pid)
    for _ in range(n):
        socks.append(raw_upgrade(srv.port)[0])
    time.sleep(0.2)
    after = rss_kib(srv.p.pid)
    for s in socks:
        s.close()
    per_conn = (after - before) * 1024 / n
    print(f"idle connection: {per_conn:.0f} bytes")
    assert per_conn < 1024, per_conn  # goal: under 1 KiB with the uv_tcp_t


def test_broadcast_and_channels(server_factory):
    srv = server_factory("chat_server")

    async def go():
        a = await websockets.connect(url(srv))
        b = await websockets.connect(url(srv))
        c = await websockets.connect(url(srv))
        for ws in (a, b):
            await ws.send("/join room")
            assert await ws.recv() == "joined"
        await c.send("/say room hello room")
        assert await a.recv() == "hello room"
        assert await b.recv() == "hello room"
        await a.send("everyone")
        for ws in (a, b, c):
            assert await ws.recv() == "everyone"
        for ws in (a, b, c):
            await ws.close()
    arun(go())


def test_jsonrpc_server_side(server_factory):
    srv = server_factory("chat_server")

    async def go():
        async with websockets.connect(url(srv)) as ws:
            await ws.send('{"jsonrpc":"2.0","id":"a","method":"echo","params":{"x":[1,2]}}')
            assert await ws.recv() == '{"jsonrpc":"2.0","id":"a","result":{"x":[1,2]}}'
            await ws.send('{"jsonrpc":"2.0","id":7,"method":"nope"}')
            got = await ws.recv()
            assert '"code":-32601' in got and '"id":7' in got
    arun(go())


# ---- node ws client ----

NODE_CLIENT = r"""
const WebSocket = require('ws');
const [url, deflate] = process.argv.slice(1);
const ws = new WebSocket(url, {perMessageDeflate: deflate === '1', maxPayload: 64 << 20});
const big = Buffer.alloc(16 << 20, 7);
let step = 0;
ws.on('open', () => { ws.send('hello node'); });
ws.on('message', (data, isBinary) => {
  step++;
  if (step === 1) { if (isBinary || data.toString() !== 'hello node') process.exit(2); ws.send(Buffer.from([1,2,3])); }
  else if (step === 2) { if (!isBinary || data.length !== 3) process.exit(3); ws.send(big); }
  else if (step === 3) { if (!isBinary || !data.equals(big)) process.exit(4); ws.ping(); }
});
ws.on('pong', () => { ws.close(1000, 'done'); });
ws.on('close', (code) => { console.log('closed ' + code + ' ext=' + ws.extensions); process.exit(0); });
ws.on('error', (e) => { console.error(e); process.exit(1); });
"""


@pytest.mark.parametrize("deflate", ["1", "0"])
def test_node_ws_client(echo_server, deflate):
    out = node(NODE_CLIENT, url(echo_server), deflate)
    assert out.startswith("closed 1000")
    assert ("permessage-deflate" in out) == (deflate == "1")
