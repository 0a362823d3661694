"""Objects going away at awkward moments: a connection collected, a loop
closed, an interpreter exiting with callbacks pending."""

import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import weakref

import wskit
from helpers import wskit_server

PYTHON = sys.executable


async def test_abandoned_connection_is_collected():
    async with wskit_server() as (server, url):
        ws = await wskit.connect(url)
        ref = weakref.ref(ws)
        ws._abort()
        await ws.wait_closed()
        del ws
        for _ in range(3):
            await asyncio.sleep(0)
            gc.collect()
        assert ref() is None


async def test_closed_server_connections_are_collected():
    async with wskit_server() as (server, url):
        refs = []
        for _ in range(5):
            async with wskit.connect(url) as ws:
                await ws.send("x")
                await ws.recv()
            refs.append(weakref.ref(ws))
        del ws
        while server.connections:
            await asyncio.sleep(0.01)
        gc.collect()
        assert all(r() is None for r in refs)


def run_script(code, timeout=20):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([PYTHON, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_interpreter_exit_with_open_connections():
    # The loop is left unclosed with timers, pending recv() futures and
    # handler tasks; the interpreter must exit cleanly.
    result = run_script("""
        import asyncio, wskit, sys

        async def hold(ws):
            await ws.recv()

        async def main():
            server = await wskit.serve(hold, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            conns = [await wskit.connect(f"ws://127.0.0.1:{port}/") for _ in range(10)]
            waiters = [asyncio.ensure_future(c.recv()) for c in conns]
            await asyncio.sleep(0.05)
            return conns, waiters

        loop = asyncio.new_event_loop()
        keep = loop.run_until_complete(main())
        print("leaving")
    """)
    assert result.returncode == 0, result.stderr
    assert "leaving" in result.stdout
    assert "Fatal Python error" not in result.stderr


def test_interpreter_exit_inside_a_callback():
    result = run_script("""
        import asyncio, sys, wskit

        class Quit(wskit.Handler):
            def on_message(self, message):
                sys.exit(3)

        async def main():
            server = await wskit.serve(Quit, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            async with wskit.connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.send("bye")
                await asyncio.sleep(5)

        asyncio.run(main())
    """)
    assert result.returncode == 3, result.stderr
    assert "Fatal Python error" not in result.stderr


def test_uvloop_exit_with_open_connections():
    result = run_script("""
        import asyncio, uvloop, wskit

        async def echo(ws):
            async for m in ws:
                await ws.send(m)

        async def main():
            server = await wskit.serve(echo, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            ws = await wskit.connect(f"ws://127.0.0.1:{port}/", ping_interval=0.01)
            await ws.send("x")
            await ws.recv()
            return server, ws

        loop = uvloop.new_event_loop()
        keep = loop.run_until_complete(main())
        loop.close()
        print("leaving")
    """)
    assert result.returncode == 0, result.stderr
    assert "leaving" in result.stdout


async def test_failed_tls_handshake_leaves_nothing_behind(tmp_path):
    import shutil
    import ssl

    import pytest

    from helpers import make_cert, port_of, wskit_echo

    if not shutil.which("openssl"):
        pytest.fail("openssl CLI is not installed (apt-get install -y openssl)")
    cert, key = make_cert(str(tmp_path))
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    async with wskit.serve(wskit_echo, "127.0.0.1", 0, ssl=sctx) as server:
        port = port_of(server)
        # a client that does not trust the certificate, then plain garbage
        with pytest.raises(ssl.SSLError):
            await wskit.connect(f"wss://localhost:{port}/")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        await reader.read()
        writer.close()
        # and one that works, over TLS
        async with wskit.connect(f"wss://localhost:{port}/",
                                 ssl=ssl.create_default_context(cafile=cert)) as ws:
            await ws.send("secure")
            assert await ws.recv() == "secure"
        await asyncio.sleep(0.1)
        assert not server.connections


def test_loop_with_its_own_clock():
    """A loop whose time() is not CLOCK_MONOTONIC: the driver must use
    loop.time() for the core and its timers."""
    from helpers import port_of

    class ShiftedLoop(asyncio.SelectorEventLoop):
        def time(self):
            return super().time() + 100000.0

    async def main():
        async with wskit.serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0,
                               open_timeout=0.2) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            assert await asyncio.wait_for(reader.read(), 5) == b""  # open timeout fired
            writer.close()
            url = f"ws://127.0.0.1:{port_of(server)}/"
            async with wskit.connect(url, ping_interval=0.05) as ws:
                await asyncio.sleep(0.2)
                assert 0 <= ws.latency < 1  # keepalive pings went out and came back

    loop = ShiftedLoop()
    try:
        loop.run_until_complete(asyncio.wait_for(main(), 10))
    finally:
        loop.close()
