"""The README's first command: ``make demo`` builds the package into .venv
and serves the chat; its page loads and two people can chat."""

import asyncio
import json
import os
import re
import signal
import shutil

import pytest

import wskit
from clitools import ROOT, http_get

pytestmark = [pytest.mark.loops("asyncio"), pytest.mark.timeout(300)]


async def test_make_demo_serves_the_chat():
    assert shutil.which("make"), "make is needed for `make demo`"
    # its own session, so the whole group (make, sh, python) can be stopped
    proc = await asyncio.create_subprocess_exec(
        "make", "--no-print-directory", "demo", "DEMO_PORT=0", cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    seen = []
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
        status, headers, body = await http_get(url)
        assert status == 200 and b"<title>wskit chat</title>" in body
        ws_url = "ws" + url[4:]
        async with wskit.connect(ws_url + "?name=ann") as ann, \
                wskit.connect(ws_url + "?name=ben") as ben:
            assert json.loads(await ann.recv())["name"] == "ann"
            assert json.loads(await ben.recv())["name"] == "ben"
            await ann.send("hello ben")
            events = [json.loads(await asyncio.wait_for(ben.recv(), 10)) for _ in range(2)]
            assert events[-1]["text"] == "hello ben"
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except asyncio.TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
    await drain
    text = "".join(seen)
    assert "demo: building wskit" in text
