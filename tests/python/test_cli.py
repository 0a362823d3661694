"""The ``wskit`` command as users run it: ``python -m wskit serve`` and
``python -m wskit connect`` / ``bench`` in subprocesses, stdin piped in,
stdout and the exit status checked. The event loop of the test itself
does not matter here, so each test runs once (on asyncio's loop)."""

import asyncio
import contextlib
import json
import os
import socket
import tempfile

import pytest

import wskit
from clitools import PYTHON, cli_env, cli_server, http_get, http_url, run_cli
from helpers import make_cert, wskit_server

pytestmark = [pytest.mark.loops("asyncio"), pytest.mark.timeout(60)]


def sent(result):
    return [line[2:] for line in result.lines if line.startswith("> ")]


def received(result):
    return [line[2:] for line in result.lines if line.startswith("< ")]


# ---- connect against `wskit serve --echo` ----

@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_connect_sends_stdin_lines_and_prints_replies(loop):
    async with cli_server("--echo", "--loop", loop) as (_, url):
        r = await run_cli("connect", "--loop", loop, url, input="hello\n\nwörld\n")
    assert r.returncode == 0, r
    # empty lines are skipped; replies come in order (interleaving with
    # the sent lines depends on timing)
    assert sent(r) == ["hello", "wörld"], r
    assert received(r) == ["hello", "wörld"], r
    assert f"connected to {url}" in r.stderr
    assert "closed: 1000" in r.stderr


async def test_connect_json_pretty_prints_text_messages():
    async with cli_server("--echo") as (_, url):
        r = await run_cli("connect", "--json", url, input='{"a": [1, 2]}\nplain text\n')
    assert r.returncode == 0, r
    assert r.stdout.count('"a": [') == 2  # sent and received, indented
    assert '< {\n    "a": [\n      1,\n      2\n    ]\n  }\n' in r.stdout
    assert "< plain text" in r.lines


async def test_connect_shows_binary_messages_as_hex():
    async with cli_server("--echo") as (_, url):
        r = await run_cli("connect", "--slash", url, input="/binary 00 01 fe\n/text /x\n")
    assert r.returncode == 0, r
    assert sent(r) == ["[3 bytes] 00 01 fe", "/x"], r
    assert received(r) == ["[3 bytes] 00 01 fe", "/x"], r


async def test_connect_binary_from_the_server():
    async def send_bytes(ws):
        await ws.send(bytes(range(250, 256)))
        await ws.send(b"")

    async with wskit_server(send_bytes) as (_, url):
        r = await run_cli("connect", url)
    assert r.returncode == 0, r
    assert r.lines == ["< [6 bytes] fa fb fc fd fe ff", "< [0 bytes]"], r


async def test_connect_waits_for_late_replies_after_stdin_ends():
    async def slow_echo(ws):
        async for message in ws:
            await asyncio.sleep(0.5)
            await ws.send(message)

    async with wskit_server(slow_echo) as (_, url):
        r = await run_cli("connect", "--wait", "3", url, input="late\n")
    assert r.returncode == 0, r
    assert r.lines == ["> late", "< late"], r


async def test_connect_idle_wait_bounds_the_run():
    async def silent(ws):
        await ws.wait_closed()

    async with wskit_server(silent) as (_, url):
        loop = asyncio.get_running_loop()
        start = loop.time()
        r = await run_cli("connect", "--wait", "0.2", url, input="anyone?\n")
        took = loop.time() - start
    assert r.returncode == 0, r
    assert r.lines == ["> anyone?"]
    assert took < 8


async def test_connect_sends_headers_and_offers_subprotocols():
    seen = {}

    def record(ws, request):
        seen["headers"] = request.headers

    async def hello(ws):
        await ws.send(f"subprotocol={ws.subprotocol}")

    async with wskit_server(hello, process_request=record,
                            subprotocols=["chat.v2"]) as (_, url):
        r = await run_cli("connect", url, "-H", "X-Token: abc 123", "-H", "X-Two:2",
                          "-s", "chat.v1", "-s", "chat.v2", "--origin", "http://example.test",
                          "--no-compression")
    assert r.returncode == 0, r
    headers = seen["headers"]
    assert headers["X-Token"] == "abc 123"
    assert headers["X-Two"] == "2"
    assert headers["Origin"] == "http://example.test"
    offered = ",".join(headers.get_all("Sec-WebSocket-Protocol")).replace(" ", "")
    assert offered == "chat.v1,chat.v2"
    assert "Sec-WebSocket-Extensions" not in headers  # --no-compression
    assert "< subprotocol=chat.v2" in r.lines
    assert "(subprotocol chat.v2)" in r.stderr


async def test_connect_rejects_a_malformed_header_option():
    r = await run_cli("connect", "ws://127.0.0.1:1/", "-H", "no colon here")
    assert r.returncode == 2
    assert "Name: value" in r.stderr


async def test_connect_refused_with_403_exits_1_and_says_why():
    def refuse(ws, request):
        return wskit.Response(403, [("Content-Type", "text/plain")], b"no entry for you\n")

    async with wskit_server(process_request=refuse) as (_, url):
        r = await run_cli("connect", url, input="hi\n")
    assert r.returncode == 1, r
    assert r.stdout == ""
    assert "HTTP 403" in r.stderr and "no entry for you" in r.stderr, r.stderr


async def test_connect_to_a_closed_port_exits_1():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        r = await run_cli("connect", f"ws://127.0.0.1:{port}/")
    assert r.returncode == 1, r
    assert "cannot connect" in r.stderr


async def test_connect_invalid_url_exits_2():
    r = await run_cli("connect", "http://example.test/")
    assert r.returncode == 2, r
    assert "isn't a valid URI" in r.stderr
    r = await run_cli("connect", "wss://127.0.0.1:9/", "--ca", "/nonexistent/ca.pem")
    assert r.returncode == 2, r
    assert "No such file" in r.stderr


@pytest.mark.parametrize("code, status", [(1000, 0), (1001, 0), (1008, 18), (1011, 21),
                                          (4000, 4)])
async def test_connect_exit_status_follows_the_close_code(code, status):
    # helpers' echo server closes with CODE on "close:CODE:REASON"
    async with wskit_server() as (_, url):
        r = await run_cli("connect", url, input=f"close:{code}:bye now\n")
    assert r.returncode == status, r
    assert f"closed: {code} bye now" in r.stderr


async def test_connect_exit_status_16_when_the_connection_drops():
    async def drop(ws):
        await ws.recv()
        ws.transport.abort()

    async with wskit_server(drop) as (_, url):
        r = await run_cli("connect", url, input="x\n")
    assert r.returncode == 16, r
    assert "1006" in r.stderr


async def test_connect_slash_close_and_ping():
    async with cli_server("--echo") as (_, url):
        r = await run_cli("connect", "--slash", url, input="/ping abc\n/close 4321 done\n")
    assert r.returncode == 4, r  # the server echoes our 4321
    assert "pong:" in r.stderr
    assert "closed: 4321" in r.stderr


# ---- --proxy ----

@contextlib.asynccontextmanager
async def connect_proxy(status=200):
    """A minimal HTTP CONNECT proxy on port 0: tunnels (200) or refuses
    with ``status``. Yields (url, list of CONNECT targets seen)."""
    seen = []

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader, writer):
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        target = head.split()[1]
        seen.append(target)
        if status != 200:
            writer.write(f"HTTP/1.1 {status} No\r\nContent-Length: 0\r\n\r\n".encode())
            writer.close()
            return
        host, port = target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen
    finally:
        server.close()


async def test_connect_through_a_proxy():
    async with cli_server("--echo") as (_, url), connect_proxy() as (proxy, seen):
        r = await run_cli("connect", "--proxy", proxy, url, input="tunnelled\n")
    assert r.returncode == 0, r
    assert received(r) == ["tunnelled"]
    assert seen == [url.split("/")[2]]


async def test_connect_proxy_refusal_exits_1():
    async with connect_proxy(407) as (proxy, seen):
        r = await run_cli("connect", "--proxy", proxy, "ws://127.0.0.1:9/")
    assert r.returncode == 1, r
    assert "proxy refused the tunnel: HTTP 407" in r.stderr
    assert seen == ["127.0.0.1:9"]


# ---- --rpc ----

def methods():
    rpc = wskit.Methods()
    rpc.add("add", lambda *numbers: sum(numbers))
    rpc.add("echo", lambda **named: named)
    return rpc


async def wait_closed(ws):
    await ws.wait_closed()


async def test_connect_rpc_prints_the_result():
    async with wskit_server(wait_closed, methods=methods()) as (_, url):
        r = await run_cli("connect", url, "--rpc", "add", "[1, 2, 39]")
        assert r.returncode == 0, r
        assert r.stdout == "42\n"
        r = await run_cli("connect", url, "--rpc", "echo", '{"k": ["v"]}')
        assert r.returncode == 0, r
        assert json.loads(r.stdout) == {"k": ["v"]}


async def test_connect_rpc_error_exits_3():
    async with wskit_server(wait_closed, methods=methods()) as (_, url):
        r = await run_cli("connect", url, "--rpc", "nope")
        assert r.returncode == 3, r
        assert "nope failed: -32601" in r.stderr
        r = await run_cli("connect", url, "--rpc", "add", "not json")
        assert r.returncode == 2, r


async def test_connect_rpc_with_a_hand_written_server():
    # any JSON-RPC 2.0 peer: a notification first, then the reply by id
    async def server(ws):
        req = json.loads(await ws.recv())
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "noise"}))
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": req["id"],
                                  "result": {"got": req["params"]}}))
        await ws.wait_closed()

    async with wskit_server(server) as (_, url):
        r = await run_cli("connect", url, "--rpc", "anything", "[true]")
    assert r.returncode == 0, r
    assert json.loads(r.stdout) == {"got": [True]}


async def test_connect_rpc_without_an_answer_exits_3():
    async with wskit_server(wait_closed) as (_, url):
        r = await run_cli("connect", url, "--rpc", "add", "[1]", "--timeout", "0.5")
    assert r.returncode == 3, r
    assert "no answer" in r.stderr


# ---- wss: --ca and --insecure against `wskit serve --cert` ----

async def test_connect_wss_verifies_with_ca_or_insecure():
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(tmp)
        async with cli_server("--echo", "--cert", cert, "--key", key) as (_, url):
            assert url.startswith("wss://")
            r = await run_cli("connect", url, "--ca", cert, input="secret\n")
            assert r.returncode == 0, r
            assert received(r) == ["secret"], r
            r = await run_cli("connect", url, input="secret\n")
            assert r.returncode == 1, r
            assert "certificate verification failed" in r.stderr
            r = await run_cli("connect", url, "--insecure", input="secret\n")
            assert r.returncode == 0, r


# ---- serve ----

async def test_serve_answers_plain_http_with_the_chat_page():
    async with cli_server("--chat") as (proc, url):
        status, headers, body = await http_get(http_url(url))
        assert status == 200
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert b"<title>wskit chat</title>" in body
        assert b"new WebSocket(" in body and b"/channels" in body
        status, _, _ = await http_get(http_url(url) + "nothing-here")
        assert status == 404


async def test_serve_echo_logs_connections():
    async with cli_server("--echo") as (proc, url):
        async with wskit.connect(url + "some/path") as ws:
            await ws.send(b"\x00bin")
            assert await ws.recv() == b"\x00bin"
    log = proc.log.result().decode()
    assert "connected /some/path" in log
    assert "closed 1000" in log


async def test_serve_broadcast_reaches_every_client():
    async with cli_server("--broadcast") as (_, url):
        async with wskit.connect(url) as a, wskit.connect(url) as b:
            await a.send("to all")
            assert await a.recv() == "to all"
            assert await b.recv() == "to all"
            await b.send(b"\x01\x02")
            assert await a.recv() == b"\x01\x02"
            assert await b.recv() == b"\x01\x02"


async def test_serve_chat_channels_bot_terminal_and_sse():
    async with cli_server("--chat") as (proc, url):
        async with wskit.connect(url + "channels") as ann:
            await ann.subscribe("lobby")
            seq = await ann.publish("lobby", {"user": "ann", "text": "/bot ping"})
            m = await asyncio.wait_for(ann.recv(), 10)
            assert (m.seq, m.data["text"]) == (seq, "/bot ping")
            m = await asyncio.wait_for(ann.recv(), 10)  # the bot answers
            assert m.data["user"] == "bot" and m.data["text"] == "pong"
            await ann.publish("lobby", {"user": "ann", "text": "bot: help"})
            await asyncio.wait_for(ann.recv(), 10)
            m = await asyncio.wait_for(ann.recv(), 10)
            assert m.data["user"] == "bot" and "/bot time" in m.data["text"]
            # a terminal user joins a room: lines in, the room's JSON out
            async with wskit.connect(url + "?name=tom&room=lobby") as tom:
                welcome = json.loads(await tom.recv())
                assert welcome == {"type": "welcome", "name": "tom", "room": "lobby",
                                   "rooms": ["lobby", "random", "help"]}
                await tom.send("hi <b>all</b>")
                line = json.loads(await asyncio.wait_for(tom.recv(), 10))
                assert (line["user"], line["text"]) == ("tom", "hi <b>all</b>")
                m = await asyncio.wait_for(ann.recv(), 10)
                assert m.data["user"] == "tom"
            with pytest.raises(wskit.ConnectionClosed) as e:
                async with wskit.connect(url + "?room=nope") as bad:
                    await bad.recv()
            assert e.value.code == 1008
        # the room as Server-Sent Events, from the beginning of its history
        events = []
        async for ev in wskit.sse_connect(http_url(url) + "events?channel=lobby",
                                          last_event_id=f"{m.epoch}:0"):
            events.append(ev)
            if len(events) == 5:
                break
        texts = [json.loads(e.data)["text"] for e in events]
        assert texts[:3] == ["/bot ping", "pong", "bot: help"] and "/bot time" in texts[3]
        assert texts[4] == "hi <b>all</b>"
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    log = proc.log.result().decode()
    assert "bot joined lobby, random, help" in log
    assert "joined lobby as 'tom' (terminal)" in log


async def test_serve_chat_without_the_bot():
    async with cli_server("--chat", "--no-bot") as (proc, url):
        async with wskit.connect(url + "channels") as ann:
            await ann.subscribe("lobby")
            await ann.publish("lobby", {"user": "ann", "text": "/bot ping"})
            await asyncio.wait_for(ann.recv(), 10)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ann.recv(), 0.5)
    assert "bot joined" not in proc.log.result().decode()


async def test_serve_chat_instances_share_rooms_through_redis():
    from redis_server import RedisServer
    r = RedisServer()
    r.start()
    try:
        async with cli_server("--chat", "--redis", r.url) as (p1, url1), \
                cli_server("--chat", "--redis", r.url, "--no-bot") as (p2, url2):
            async with wskit.connect(url1 + "channels") as a, \
                    wskit.connect(url2 + "channels") as b:
                await a.subscribe("random")
                await b.subscribe("random")
                await b.publish("random", {"user": "b", "text": "/bot echo scale"})
                for ws in (a, b):  # both instances: the message, then the one bot's answer
                    got = [(await asyncio.wait_for(ws.recv(), 10)).data["text"]
                           for _ in range(2)]
                    assert got == ["/bot echo scale", "scale"]
    finally:
        r.kill()


async def test_serve_stops_on_sigterm_closing_with_1001():
    async with cli_server("--echo") as (proc, url):
        ws = await wskit.connect(url)
        proc.terminate()
        with pytest.raises(wskit.ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 1001
        await asyncio.wait_for(proc.wait(), 10)
    assert proc.returncode == 0


async def test_serve_port_in_use_exits_1():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            PYTHON, "-m", "wskit", "serve", "--port", str(port), env=cli_env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 1
    assert b"cannot listen" in err


# ---- bench ----

async def test_bench_against_serve_echo_prints_a_positive_rate():
    async with cli_server("--echo") as (_, url):
        r = await run_cli("bench", url, "-c", "3", "-d", "1", "--size", "64", timeout=30)
        assert r.returncode == 0, r
        rate_line = next(line for line in r.lines if "msgs/s" in line)
        rate = float(rate_line.split("=")[1].split()[0].replace(",", ""))
        assert rate > 0
        assert any(line.startswith("latency:") and "p99" in line for line in r.lines)
        r = await run_cli("bench", url, "-c", "2", "-d", "0.5", "--binary", "--inflight", "4",
                          "--json", "-q", timeout=30)
        assert r.returncode == 0, r
        summary = json.loads(r.stdout)
        assert summary["connections"] == 2 and summary["failed"] == 0
        assert summary["messages"] > 0 and summary["msgs_per_s"] > 0
        lat = summary["latency_ms"]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]


async def test_bench_without_a_server_exits_1():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        r = await run_cli("bench", f"ws://127.0.0.1:{port}/", "-c", "2", "-d", "1")
    assert r.returncode == 1, r
    assert "no connection opened" in r.stderr


# ---- the command itself ----

def test_console_script_is_installed():
    script = os.path.join(os.path.dirname(PYTHON), "wskit")
    assert os.path.exists(script), "pip install should have made the wskit script"


def test_help_lists_the_commands():
    import subprocess
    r = subprocess.run([PYTHON, "-m", "wskit", "--help"], capture_output=True, text=True,
                       timeout=30, env=cli_env())
    assert r.returncode == 0
    for command in ("connect", "serve", "bench"):
        assert command in r.stdout
    r = subprocess.run([PYTHON, "-m", "wskit", "connect", "--help"], capture_output=True,
                       text=True, timeout=30, env=cli_env())
    assert "exit status" in r.stdout


def test_exit_status_table():
    from wskit.cli.connect import exit_status
    assert [exit_status(c) for c in (1000, 1001, 1002, 1005, 1006, 1011, 1015, 3000, 4999,
                                     None)] == [0, 0, 12, 15, 16, 21, 25, 4, 4, 16]


def test_install_layout_has_the_commands_and_the_page():
    # what a wheel gets (build_py copies modules and package data, no C)
    import subprocess
    import tempfile
    from clitools import ROOT
    with tempfile.TemporaryDirectory() as out:
        r = subprocess.run([PYTHON, "setup.py", "-q", "build_py", "--build-lib", out], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        for path in ("wskit/cli/__init__.py", "wskit/cli/connect.py", "wskit/cli/serve.py",
                     "wskit/cli/bench.py", "wskit/cli/chatbot.py", "wskit/static/chat.html",
                     "wskit/__main__.py", "wskit/channels_client.py", "wskit/sse_client.py"):
            assert os.path.exists(os.path.join(out, path)), path
