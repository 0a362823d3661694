"""resty.wskit.server endpoints in a real nginx, driven by
python3-websockets (and a raw socket client for what it will not send)."""
import asyncio
import base64
import json
import os
import ssl

import pytest
import websockets

from or_util import run
from or_peer import big_payload
from or_raw import Raw


def test_echo_text_and_binary(nginx):
    async def go():
        async with websockets.connect(nginx.url("/ws/echo")) as ws:
            await ws.send("héllo")
            assert await ws.recv() == "héllo"
            await ws.send(b"\x00\x01\xff")
            assert await ws.recv() == b"\x00\x01\xff"
            await ws.send("")
            assert await ws.recv() == ""
    run(go())


def test_compression_negotiated_and_used(nginx):
    async def go():
        async with websockets.connect(nginx.url("/ws/echo")) as ws:
            assert [e.name for e in ws.extensions] == ["permessage-deflate"]
            text = "compress me " * 20000
            await ws.send(text)
            assert await ws.recv() == text
    run(go())


def test_wss_through_nginx_tls(nginx, certs):
    ctx = ssl.create_default_context(cafile=certs["ca"])

    async def go():
        url = "wss://localhost:%d/ws/echo" % nginx.tls_port
        async with websockets.connect(url, ssl=ctx, max_size=None) as ws:
            await ws.send("secret")
            assert await ws.recv() == "secret"
            data = os.urandom(300000)
            await ws.send(data)
            assert await ws.recv() == data
    run(go())


def test_compression_off_by_option(nginx):
    async def go():
        async with websockets.connect(nginx.url("/ws/echo?compress=0")) as ws:
            assert ws.extensions == []
            await ws.send("x")
            assert await ws.recv() == "x"
    run(go())


@pytest.mark.parametrize("compress", [None, "deflate"])
def test_fragmented_1mib_to_server(nginx, compress):
    data = big_payload()
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]

    async def go():
        async with websockets.connect(nginx.url("/ws/echo?max=2097152"), max_size=None,
                                      compression=compress) as ws:
            await ws.send(chunks)  # 16 fragments
            assert await ws.recv() == data
    run(go(), 30)


def test_fragmented_1mib_from_server(nginx):
    # the raw client sees the frames: 16 pieces, FIN only on the last
    data = big_payload()
    r = Raw(nginx.port, timeout=10)
    status, headers = r.request("/ws/frag?frag=65536&max=2097152&compress=0")
    assert status == 101
    r.send_frame(2, data)
    pieces = []
    while True:
        fin, op, payload = r.recv_frame()
        pieces.append((fin, op, len(payload)))
        if fin:
            break
    assert len(pieces) == 16
    assert pieces[0] == (False, 2, 65536)
    assert all(p == (False, 0, 65536) for p in pieces[1:-1])
    assert pieces[-1] == (True, 0, 65536)
    r.close()

    async def go():
        async with websockets.connect(nginx.url("/ws/frag?frag=65536&max=2097152"),
                                      max_size=None) as ws:
            await ws.send(data)
            assert await ws.recv() == data
    run(go(), 30)


def test_close_code_from_server(nginx):
    async def go():
        async with websockets.connect(nginx.url("/ws/close?code=4001&reason=bye")) as ws:
            await ws.send("go")
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 4001
            assert ws.close_reason == "bye"
    run(go())


def test_close_code_from_client_is_echoed(nginx):
    async def go():
        ws = await websockets.connect(nginx.url("/ws/echo"))
        await ws.close(4002, "client bye")
        assert ws.close_code == 4002
    run(go())


def test_max_payload_len_crossed_is_1009(nginx):
    async def go():
        async with websockets.connect(nginx.url("/ws/echo?max=1024")) as ws:
            await ws.send("a" * 1024)
            assert await ws.recv() == "a" * 1024
            await ws.send("a" * 2048)
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1009
    run(go())


def test_max_payload_len_counts_the_whole_fragmented_message(nginx):
    async def go():
        async with websockets.connect(nginx.url("/ws/echo?max=1024")) as ws:
            await ws.send([b"x" * 600, b"y" * 600])
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1009
    run(go())


def test_invalid_utf8_is_1007(nginx):
    r = Raw(nginx.port)
    assert r.request("/ws/echo")[0] == 101
    r.send_frame(1, b"ok \xc3")  # truncated 2-byte sequence
    assert r.recv_close_code() == 1007
    r.close()


def test_invalid_utf8_across_fragments_fails_fast(nginx):
    r = Raw(nginx.port)
    assert r.request("/ws/echo")[0] == 101
    r.send_frame(1, b"fine", fin=False)
    r.send_frame(0, b"\xff", fin=False)  # impossible byte: fail before the end
    assert r.recv_close_code() == 1007
    r.close()


def test_unmasked_client_frame_is_1002(nginx):
    r = Raw(nginx.port)
    assert r.request("/ws/echo")[0] == 101
    r.send_frame(1, b"hi", mask=False)
    assert r.recv_close_code() == 1002
    r.close()


def test_wrong_version_gets_426_with_version_header(nginx):
    r = Raw(nginx.port)
    status, headers = r.request("/ws/echo", version="12")
    assert status == 426
    assert headers["sec-websocket-version"] == "13"
    r.close()


def test_bad_key_gets_400(nginx):
    r = Raw(nginx.port)
    status, headers = r.request("/ws/echo", key="short")
    assert status == 400
    r.close()


def test_head_over_the_core_limit_gets_431(nginx):
    r = Raw(nginx.port)
    status, headers = r.request("/ws/echo?max_head=1024", headers={"X-Big": "b" * 2000})
    assert status == 431
    r.close()


def test_plain_get_gets_426(nginx):
    r = Raw(nginx.port)
    status, headers = r.request("/ws/echo", headers={"Upgrade": None, "Connection": None})
    assert status == 426
    r.close()


def test_subprotocol_chosen_from_ours(nginx):
    async def go():
        async with websockets.connect(nginx.url("/ws/echo?protocols=chat,superchat"),
                                      subprotocols=["superchat", "other"]) as ws:
            assert ws.subprotocol == "superchat"
    run(go())


def test_origin_not_allowed_gets_403(nginx):
    async def go():
        with pytest.raises(websockets.InvalidStatusCode) as e:
            async with websockets.connect(nginx.url("/ws/echo?origins=https://good.example"),
                                          origin="https://evil.example"):
                pass
        assert e.value.status_code == 403
        async with websockets.connect(nginx.url("/ws/echo?origins=https://good.example"),
                                      origin="https://good.example") as ws:
            await ws.send("in")
            assert await ws.recv() == "in"
    run(go())


def test_recv_frame_with_stream_fragments_gives_pieces(nginx):
    r = Raw(nginx.port)
    assert r.request("/ws/stream?stream=1&compress=0")[0] == 101
    r.send_frame(1, b"abc", fin=False)
    r.send_frame(0, b"de", fin=False)
    r.send_frame(0, b"f", fin=True)
    fin, op, payload = r.recv_frame()
    assert payload == b"text:3:again continuation:2:again continuation:1:nil"
    r.close()


def test_server_ping_reports_its_pong(nginx):
    async def go():
        async with websockets.connect(nginx.url("/ws/ping")) as ws:
            assert await ws.recv() == "pong id=1 acked=1 latency_ok=true"
    run(go())


def test_keepalive_pings_while_waiting_then_1011(nginx):
    # a raw client that never answers pings: the core pings every 200 ms
    # from inside recv_message, then fails the connection with 1011
    r = Raw(nginx.port)
    assert r.request("/ws/echo?ping_interval=200&ping_timeout=300")[0] == 101
    fin, op, payload = r.recv_frame()
    assert op == 9
    assert r.recv_close_code() == 1011
    r.close()


def test_keepalive_answered_keeps_the_connection(nginx):
    async def go():
        async with websockets.connect(nginx.url("/ws/echo?ping_interval=100&ping_timeout=500")) as ws:
            await asyncio.sleep(0.8)  # several pings, answered by websockets
            await ws.send("alive")
            assert await ws.recv() == "alive"
    run(go())


def test_frames_sent_with_the_request_are_kept(nginx):
    # a client that does not wait for the 101: its first frame arrives in
    # the same segment as the request head
    r = Raw(nginx.port)
    key = base64.b64encode(os.urandom(16)).decode()
    r.s.sendall(("GET /ws/echo?compress=0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode() + b"\x81\x82abcd" +
                bytes([ord("h") ^ ord("a"), ord("i") ^ ord("b")]))
    status, headers = r.read_head()
    assert status == 101
    assert r.recv_frame() == (True, 1, b"hi")
    r.close()


def test_reader_and_writer_threads_do_not_interleave_frames(nginx):
    async def go():
        async with websockets.connect(nginx.url("/ws/duplex?n=50"), max_size=None) as ws:
            sent = ["echo %d %s" % (i, "e" * 2000) for i in range(50)]
            for m in sent:
                await ws.send(m)
            got = [await ws.recv() for _ in range(100)]
            echoes = [m for m in got if m.startswith("echo")]
            ticks = [m for m in got if m.startswith("tick")]
            assert echoes == sent
            assert [int(t.split()[1]) for t in ticks] == list(range(1, 51))
            assert all(len(t.split()[2]) == 3000 for t in ticks)
    run(go(), 20)


def test_rpc_handlers_on_the_server(nginx):
    async def go():
        async with websockets.connect(nginx.url("/ws/rpc")) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "sum", "params": [2, 3]}))
            assert json.loads(await ws.recv()) == {"jsonrpc": "2.0", "id": 7, "result": 5}
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": "x", "method": "fail"}))
            assert json.loads(await ws.recv())["error"]["code"] == 42
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 8, "method": "nope"}))
            assert json.loads(await ws.recv())["error"]["code"] == -32601
            await ws.send("not rpc")
            assert await ws.recv() == "not rpc"
            # the handler asks us from another light thread, which reads for
            # its reply while the main one waits for it in recv_message
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 9, "method": "call_back", "params": [21]}))
            got = [json.loads(await ws.recv()), json.loads(await ws.recv())]
            got.sort(key=lambda m: "method" in m)
            assert got[0]["result"] == "started"
            req = got[1]
            assert req["method"] == "double"
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": 42}))
            assert await ws.recv() == "call_back:42"
    run(go())


def test_many_concurrent_connections(nginx):
    async def one(i):
        async with websockets.connect(nginx.url("/ws/echo")) as ws:
            for k in range(20):
                await ws.send("%d-%d" % (i, k))
                assert await ws.recv() == "%d-%d" % (i, k)

    async def go():
        await asyncio.gather(*(one(i) for i in range(32)))
    run(go(), 30)
