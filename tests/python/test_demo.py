"""The README's first command: ``make demo`` builds the package into .venv
and serves the chat; its page loads, two people chat on a room channel,
the bot answers, and a second instance (DEMO_ARGS="--redis URL --no-bot")
shares the rooms through a real redis-server."""

import asyncio
import contextlib
import os
import re
import signal
import shutil

import pytest

import wskit
from clitools import ROOT, http_get
from redis_server import RedisServer

pytestmark = [pytest.mark.loops("asyncio"), pytest.mark.timeout(300)]


@contextlib.asynccontextmanager
async def make_demo(*args):
    """Run ``make demo ARGS``; yield (page URL, output lines so far)."""
    # its own session, so the whole group (make, sh, python) can be stopped
    proc = await asyncio.create_subprocess_exec(
        "make", "--no-print-directory", "demo", "DEMO_PORT=0", *args, cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    seen = []
    drain = None
    try:
        url = None
        while url is None:  # the build may take a while on a fresh checkout
            line = (await asyncio.wait_for(proc.stdout.readline(), 240)).decode()
            if not line:
                raise AssertionError("make demo ended early:\n" + "".join(seen))
            seen.append(line)
            m = re.search(r"open (http://\S+/) in a browser", line)
            if m:
                url = m.group(1)
        drain = asyncio.ensure_future(proc.stdout.read())
        yield url, seen
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except asyncio.TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        if drain is not None:
            seen.append((await drain).decode())


async def test_make_demo_serves_the_chat():
    assert shutil.which("make"), "make is needed for `make demo`"
    async with make_demo() as (url, seen):
        status, headers, body = await http_get(url)
        assert status == 200 and b"<title>wskit chat</title>" in body
        ws_url = "ws" + url[4:] + "channels"
        async with wskit.connect(ws_url) as ann, wskit.connect(ws_url) as ben:
            await ann.subscribe("lobby")
            await ben.subscribe("lobby")
            await ann.publish("lobby", {"user": "ann", "text": "hello ben"})
            m = await asyncio.wait_for(ben.recv(), 10)
            assert m.data == {"user": "ann", "text": "hello ben"}
            await ben.publish("lobby", {"user": "ben", "text": "/bot ping"})
            texts = [(await asyncio.wait_for(ann.recv(), 10)).data["text"] for _ in range(3)]
            assert texts == ["hello ben", "/bot ping", "pong"]
    text = "".join(seen)
    assert "demo: building wskit" in text
    assert "the bot answers" in text


async def test_make_demo_two_instances_share_rooms_through_redis():
    r = RedisServer()
    r.start()
    try:
        async with make_demo(f"DEMO_ARGS=--redis {r.url}") as (url1, _), \
                make_demo(f"DEMO_ARGS=--redis {r.url} --no-bot") as (url2, seen2):
            assert url1 != url2
            async with wskit.connect("ws" + url1[4:] + "channels") as a, \
                    wskit.connect("ws" + url2[4:] + "channels") as b:
                await a.subscribe("help")
                await b.subscribe("help")
                await b.publish("help", {"user": "b", "text": "/bot echo from two"})
                # both instances get the message, then the one bot's answer, once each
                for ws in (a, b):
                    texts = [(await asyncio.wait_for(ws.recv(), 10)).data["text"]
                             for _ in range(2)]
                    assert texts == ["/bot echo from two", "from two"]
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(a.recv(), 0.5)
        assert "shared through redis://" in "".join(seen2)
    finally:
        r.kill()
