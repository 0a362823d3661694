"""Headless Chromium for the OpenResty tests, driven over the DevTools
protocol with python3-websockets (a peer that knows nothing of wskit).

    async with chromium() as browser:
        tab = await browser.open(url)
        await tab.wait_for("window.ready === true")

Chromium missing fails the test (CI installs it); it is never skipped."""
import asyncio
import contextlib
import itertools
import json
import re
import shutil
import tempfile

import websockets


class Tab:
    def __init__(self, browser, session):
        self.browser, self.session = browser, session

    async def eval(self, expression):
        res = await self.browser.call("Runtime.evaluate", {
            "expression": expression, "returnByValue": True}, self.session)
        if "exceptionDetails" in res:
            raise RuntimeError("%r threw: %s" % (expression, res["exceptionDetails"]))
        return res["result"].get("value")

    async def wait_for(self, expression, timeout=15):
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                value = await self.eval(expression)
            except RuntimeError:
                value = None
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("timed out waiting for %r" % expression)
            await asyncio.sleep(0.1)


class Browser:
    def __init__(self, ws):
        self.ws, self.ids, self.pending = ws, itertools.count(1), {}
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for message in self.ws:
                reply = json.loads(message)
                fut = self.pending.pop(reply.get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(reply)
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("DevTools connection closed"))

    async def call(self, method, params=None, session=None, timeout=15):
        i = next(self.ids)
        msg = {"id": i, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        fut = self.pending[i] = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps(msg))
        reply = await asyncio.wait_for(fut, timeout)
        if "error" in reply:
            raise RuntimeError("%s: %s" % (method, reply["error"]))
        return reply.get("result", {})

    async def open(self, url):
        target = (await self.call("Target.createTarget", {"url": url}))["targetId"]
        session = (await self.call("Target.attachToTarget",
                                   {"targetId": target, "flatten": True}))["sessionId"]
        return Tab(self, session)


@contextlib.asynccontextmanager
async def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "Chromium is not installed (apt-get install -y chromium)"
    profile = tempfile.mkdtemp(prefix="wskit-or-chromium-")
    proc = await asyncio.create_subprocess_exec(
        exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", "--user-data-dir=" + profile,
        "--remote-debugging-port=0", "about:blank",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    drain = None
    try:
        url = None
        for _ in range(200):
            line = await asyncio.wait_for(proc.stderr.readline(), 30)
            assert line, "Chromium exited before DevTools listened"
            m = re.search(rb"DevTools listening on (ws://\S+)", line)
            if m:
                url = m.group(1).decode()
                break
        assert url, "no DevTools URL from Chromium"
        drain = asyncio.ensure_future(proc.stderr.read())  # never block on stderr
        async with websockets.connect(url, max_size=None, ping_interval=None) as ws:
            browser = Browser(ws)
            try:
                yield browser
            finally:
                with contextlib.suppress(Exception):
                    await browser.call("Browser.close", timeout=5)
                browser.reader.cancel()
    finally:
        if drain:
            drain.cancel()
        if proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.asynccontextmanager
async def cutting_proxy(port):
    """A TCP relay to 127.0.0.1:port whose connections the test can cut."""
    links = []

    async def pipe(r, w):
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    break
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()

    async def handle(cr, cw):
        sr, sw = await asyncio.open_connection("127.0.0.1", port)
        links.append((cw, sw))
        await asyncio.gather(pipe(cr, sw), pipe(sr, cw))

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)

    def cut():
        for cw, sw in links:
            cw.transport.abort()
            sw.transport.abort()
        links.clear()

    try:
        yield cut, srv.sockets[0].getsockname()[1]
    finally:
        cut()
        srv.close()
        await srv.wait_closed()
