"""Chromium's own EventSource against the server's sse_path: a channel's
messages arrive with ids "<epoch>:<seq>"; when the stream is cut the
browser reconnects after the server's retry delay with Last-Event-ID and
gets what it missed, once; past the history it gets an explicit "gap"
event. A WebSocket client of /channels sees the same messages.

Chromium missing fails these tests (CI installs it); they are not skipped.
"""

import asyncio
import contextlib
import json

import pytest

import wskit
from browser import chromium
from helpers import port_of
from test_sse_client import cutting_proxy, publish

pytestmark = [pytest.mark.loops("asyncio"), pytest.mark.timeout(90)]

PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>sse</title></head>
<body><script>
"use strict";
window.got = []; window.gaps = []; window.opens = 0;
const es = new EventSource("/events?channel=" + new URLSearchParams(location.search).get("c"));
es.onopen = () => { window.opens++; };
es.onmessage = (e) => { window.got.push([e.lastEventId, e.data]); };
es.addEventListener("gap", (e) => { window.gaps.push(JSON.parse(e.data)); });
</script></body></html>"""


async def idle(ws):
    await ws.wait_closed()


def page(conn, request):
    if request.path.startswith("/sse.html"):
        return wskit.Response(200, [("Content-Type", "text/html; charset=utf-8")], PAGE)
    return None


@contextlib.asynccontextmanager
async def server(**kw):
    async with wskit.serve(idle, "127.0.0.1", 0, sse_path="/events", channels_path="/channels",
                           sse_retry=0.2, process_request=page, **kw) as srv:
        async with cutting_proxy(port_of(srv)) as (cut, pport):
            yield srv, cut, pport


async def test_event_source_receives_and_resumes_with_last_event_id():
    async with server() as (srv, cut, pport), chromium() as browser:
        tab = await browser.open(f"http://127.0.0.1:{pport}/sse.html?c=news")
        await tab.wait_for("window.opens === 1")
        async with wskit.connect(f"ws://127.0.0.1:{port_of(srv)}/channels") as ws:
            await ws.subscribe("news")
            await publish(srv, "news", "one")
            await publish(srv, "news", {"two": 2})
            await tab.wait_for("window.got.length === 2")
            cut()  # the stream breaks; EventSource reconnects with Last-Event-ID
            await publish(srv, "news", "three")
            await publish(srv, "news", "four")
            await tab.wait_for("window.opens === 2")
            await publish(srv, "news", "five")
            await tab.wait_for("window.got.length >= 5", timeout=15)
            await asyncio.sleep(0.3)
            got = await tab.eval("window.got")
            ws_got = [(await asyncio.wait_for(ws.recv(), 5)).data for _ in range(5)]
        epoch = got[0][0].split(":")[0]
        assert got == [[f"{epoch}:1", "one"], [f"{epoch}:2", '{"two":2}'],
                       [f"{epoch}:3", "three"], [f"{epoch}:4", "four"], [f"{epoch}:5", "five"]]
        assert ws_got == ["one", {"two": 2}, "three", "four", "five"]
        assert await tab.eval("window.gaps.length") == 0


async def test_event_source_told_of_a_gap_past_the_history():
    async with server(history_size=2) as (srv, cut, pport), chromium() as browser:
        tab = await browser.open(f"http://127.0.0.1:{pport}/sse.html?c=g")
        await tab.wait_for("window.opens === 1")
        await publish(srv, "g", "m1")
        await tab.wait_for("window.got.length === 1")
        cut()
        for i in range(2, 7):  # the history keeps 5 and 6
            await publish(srv, "g", f"m{i}")
        await tab.wait_for("window.got.length === 3", timeout=15)
        gaps = await tab.eval("window.gaps")
        assert [(g["channel"], g["from"], g["to"], g["reason"]) for g in gaps] == \
            [("g", 2, 4, "expired")]
        assert [d for _, d in await tab.eval("window.got")] == ["m1", "m5", "m6"]
        assert json.dumps(gaps[0]).startswith('{"type": "gap"')
