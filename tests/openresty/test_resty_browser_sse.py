"""Chromium's own EventSource against resty.wskit.sse in a real nginx:
messages arrive with ids "<epoch>:<seq>"; when the stream is cut the
browser reconnects after the retry delay with Last-Event-ID and gets what
it missed, once; past the history it gets an explicit "gap" event."""
import asyncio
import json

from or_chromium import chromium, cutting_proxy
from or_util import run


def test_event_source_receives_and_resumes_with_last_event_id(local_hub):
    async def go():
        async with cutting_proxy(local_hub.port) as (cut, pport), chromium() as browser:
            tab = await browser.open("http://127.0.0.1:%d/sse.html?c=browser1" % pport)
            await tab.wait_for("window.opens === 1")
            local_hub.publish("browser1", "one")
            local_hub.publish("browser1", '{"two":2}', kind="json")
            await tab.wait_for("window.got.length === 2")
            cut()  # the stream breaks; EventSource reconnects with Last-Event-ID
            local_hub.publish("browser1", "three")
            local_hub.publish("browser1", "four")
            await tab.wait_for("window.opens === 2")
            local_hub.publish("browser1", "five")
            await tab.wait_for("window.got.length >= 5")
            await asyncio.sleep(0.3)
            got = await tab.eval("window.got")
            epoch = got[0][0].split(":")[0]
            assert got == [["%s:1" % epoch, "one"], ["%s:2" % epoch, '{"two":2}'],
                           ["%s:3" % epoch, "three"], ["%s:4" % epoch, "four"],
                           ["%s:5" % epoch, "five"]]
            assert await tab.eval("window.gaps.length") == 0
    run(go(), 35)


def test_event_source_told_of_a_gap_past_the_history(local_hub):
    async def go():
        async with cutting_proxy(local_hub.port) as (cut, pport), chromium() as browser:
            tab = await browser.open("http://127.0.0.1:%d/sse.html?c=browser2" % pport)
            await tab.wait_for("window.opens === 1")
            local_hub.publish("browser2", "first")
            await tab.wait_for("window.got.length === 1")
            cut()
            for i in range(25):  # history_size 20: 2..6 are gone
                local_hub.publish("browser2", "m%d" % i)
            await tab.wait_for("window.opens === 2")
            await tab.wait_for("window.got.length === 21")
            gaps = await tab.eval("window.gaps")
            assert len(gaps) == 1
            assert gaps[0]["reason"] == "expired" and gaps[0]["from"] == 2 and gaps[0]["to"] == 6
            got = await tab.eval("window.got")
            assert [g[1] for g in got[1:]] == ["m%d" % i for i in range(5, 25)]
    run(go(), 35)
