"""Headless Chromium for the tests, driven over the DevTools protocol, which
is JSON over a WebSocket: our own client speaks it.

    async with chromium() as browser:
        page = await browser.open("http://127.0.0.1:8765/?name=alice")
        await page.wait_for("document.title === 'wskit chat'")
        text = await page.eval("document.body.innerText")

Chromium missing is a test failure, not a skip: CI installs it
(.ci/run); locally, `apt-get install -y chromium`.
"""

import asyncio
import contextlib
import itertools
import json
import re
import shutil
import tempfile

import wskit

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium():
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("Chromium is not installed (apt-get install -y chromium); "
                         "the browser tests need it")


class DevTools:
    """One DevTools connection: calls by id, events ignored unless awaited."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending = {}
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for message in self.ws:
                reply = json.loads(message)
                fut = self.pending.pop(reply.get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(reply)
        finally:
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("DevTools connection closed"))

    async def call(self, method, params=None, session=None, timeout=15):
        call_id = next(self.ids)
        message = {"id": call_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        fut = self.pending[call_id] = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps(message))
        reply = await asyncio.wait_for(fut, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})


class Page:
    """A tab: evaluate JavaScript in it, wait for a condition."""

    def __init__(self, devtools, target, session):
        self.devtools = devtools
        self.target = target
        self.session = session

    async def eval(self, expression):
        result = await self.devtools.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                 "awaitPromise": True}, self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression, timeout=15):
        """Poll until the expression is truthy; return its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                value = await self.eval(expression)
            except RuntimeError:  # e.g. no document.body before the page loads
                value = None
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                text = await self.eval("document.body ? document.body.innerText : ''")
                raise AssertionError(f"timed out waiting for {expression!r}; page shows:\n{text}")
            await asyncio.sleep(0.1)

    async def close(self):
        await self.devtools.call("Target.closeTarget", {"targetId": self.target})


class Browser:
    def __init__(self, devtools):
        self.devtools = devtools

    async def open(self, url):
        """A new tab at ``url``, attached so it can be scripted."""
        target = (await self.devtools.call("Target.createTarget", {"url": url}))["targetId"]
        session = (await self.devtools.call(
            "Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
        return Page(self.devtools, target, session)


@contextlib.asynccontextmanager
async def chromium():
    """Start headless Chromium on a free DevTools port; yield a Browser."""
    exe = find_chromium()
    profile = tempfile.mkdtemp(prefix="wskit-chromium-")
    proc = await asyncio.create_subprocess_exec(
        exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
        "--remote-debugging-port=0", "about:blank",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        url = None
        seen = []
        while url is None:
            line = await asyncio.wait_for(proc.stderr.readline(), 30)
            if not line:
                raise AssertionError("Chromium exited before DevTools listened:\n" +
                                     "".join(seen))
            seen.append(line.decode(errors="replace"))
            m = re.search(rb"DevTools listening on (ws://\S+)", line)
            if m:
                url = m.group(1).decode()
        # keep draining stderr so Chromium never blocks on a full pipe
        drain = asyncio.ensure_future(proc.stderr.read())
        async with wskit.connect(url, max_size=None, ping_interval=None, proxy=None) as ws:
            devtools = DevTools(ws)
            try:
                yield Browser(devtools)
            finally:
                with contextlib.suppress(Exception):
                    await devtools.call("Browser.close", timeout=5)
                devtools.reader.cancel()
        drain.cancel()
    finally:
        if proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
