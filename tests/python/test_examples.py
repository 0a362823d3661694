"""examples/python run as their docstrings say, with the venv's python."""

import asyncio
import contextlib
import os
import signal

import pytest

import wskit
from clitools import PYTHON, ROOT, cli_env, http_get

pytestmark = [pytest.mark.loops("asyncio"), pytest.mark.timeout(60)]

EXAMPLES = os.path.join(ROOT, "examples", "python")


@contextlib.asynccontextmanager
async def example(name, *args):
    """Run examples/python/NAME; yield the process (stdout is a pipe)."""
    proc = await asyncio.create_subprocess_exec(
        PYTHON, os.path.join(EXAMPLES, name), *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=cli_env())
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()


async def line_of(proc, timeout=15):
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    assert line, "the example ended"
    return line.decode().rstrip("\n")


async def listening(proc):
    line = await line_of(proc)
    assert line.startswith("listening "), line
    return f"ws://127.0.0.1:{line.split()[1]}/"


@pytest.mark.parametrize("style", ["coroutine", "handler"])
async def test_echo_server(style):
    args = ["0"] + (["--handler"] if style == "handler" else [])
    async with example("echo_server.py", *args) as proc:
        url = await listening(proc)
        async with wskit.connect(url) as ws:
            await ws.send("text")
            assert await ws.recv() == "text"
            await ws.send(b"\x00\xff")
            assert await ws.recv() == b"\x00\xff"
            proc.send_signal(signal.SIGINT)
            with pytest.raises(wskit.ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1001
        assert await asyncio.wait_for(proc.wait(), 15) == 0


async def test_chat_server():
    async with example("chat_server.py") as proc:
        url = await listening(proc)
        status, _, body = await http_get("http" + url[2:] + "health")
        assert (status, body) == (200, b"ok\n")
        async with wskit.connect(url) as ann, wskit.connect(url) as ben:
            await ann.send("ann")
            assert await ann.recv() == "ann joined"
            await ben.send("ben")
            assert await ann.recv() == "ben joined"
            assert await ben.recv() == "ben joined"
            await ben.send("hi ann")
            assert await ann.recv() == "ben: hi ann"
            assert await ben.recv() == "ben: hi ann"
            await ben.close()
            assert await ann.recv() == "ben left"


async def test_reconnecting_bot_survives_a_server_restart():
    seen = asyncio.Queue()

    async def room(ws):
        await seen.put(await ws.recv())  # the bot's hello
        await ws.send("ping")
        await seen.put(await ws.recv())
        await ws.wait_closed()

    async with wskit.serve(room, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with example("reconnecting_bot.py", f"ws://127.0.0.1:{port}/") as bot:
            assert await asyncio.wait_for(seen.get(), 15) == "bot"
            assert await asyncio.wait_for(seen.get(), 15) == "pong"
            server.close(1012, "restarting")  # the server goes away...
            await server.wait_closed()
            # ...and comes back on the same port
            async with wskit.serve(room, "127.0.0.1", port):
                assert await asyncio.wait_for(seen.get(), 15) == "bot"
                assert await asyncio.wait_for(seen.get(), 15) == "pong"
            bot.send_signal(signal.SIGINT)
            out = (await asyncio.wait_for(bot.stdout.read(), 15)).decode()
            await bot.wait()
    assert "connected (connection 1)" in out
    assert "connected (connection 2)" in out
    assert "< ping" in out
