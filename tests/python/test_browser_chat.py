"""The chat page of ``wskit serve`` in a real browser: headless Chromium
loads it and chats through the browser's own WebSocket over the JSON
channel protocol (/channels): two tabs talk, the bot answers, a terminal
user (wskit client) is in the same room, rooms keep to themselves, a
newcomer gets the history, a cut connection resumes with nothing missed
or doubled, and two tabs on TWO server instances sharing a real
redis-server chat with each other.

Chromium missing fails these tests (CI installs it); they are not skipped.
"""

import asyncio
import contextlib
import json

import pytest

import wskit
from browser import chromium
from clitools import cli_server, http_url
from redis_server import RedisServer
from test_sse_client import cutting_proxy

pytestmark = [pytest.mark.loops("asyncio"), pytest.mark.timeout(120)]


def shows(text):
    """JS: the page's message list contains ``text``."""
    return f"document.getElementById('messages').innerText.includes({json.dumps(text)})"


def has_line_from(name, text):
    """JS: a chat line by ``name`` containing ``text``."""
    return (f"[...document.querySelectorAll('#messages li')].some(li => "
            f"li.dataset.name === {json.dumps(name)} && li.textContent.includes("
            f"{json.dumps(text)}))")


def count_lines(text):
    return (f"[...document.querySelectorAll('#messages li')].filter(li => "
            f"li.textContent.includes({json.dumps(text)})).length")


SUBSCRIBED = "document.getElementById('send').disabled === false"


async def say(page, text):
    """Type into the message box and press Send, as a person would."""
    await page.eval(f"""(() => {{
        const box = document.getElementById('text');
        box.value = {json.dumps(text)};
        document.getElementById('send').click();
        return box.value;
    }})()""")


async def test_two_tabs_chat_with_the_bot_rooms_and_a_terminal_user():
    async with cli_server("--chat") as (server, url), chromium() as browser:
        page_url = http_url(url)
        alice = await browser.open(page_url + "?name=alice")
        await alice.wait_for(SUBSCRIBED)
        assert await alice.eval("document.getElementById('status').className") == "online"
        bob = await browser.open(page_url + "?name=bob")
        await bob.wait_for(SUBSCRIBED)

        await say(alice, "hello from alice <b>not bold</b>")
        await bob.wait_for(has_line_from("alice", "hello from alice <b>not bold</b>"))
        # text, never markup: the page must not have made a <b>
        assert await bob.eval("document.querySelectorAll('#messages b').length") == 0

        await say(bob, "/bot ping")
        await alice.wait_for(has_line_from("bot", "pong"))
        await bob.wait_for(has_line_from("bot", "pong"))

        # a terminal user in the lobby sees the browsers and is seen
        async with wskit.connect(url + "?name=carol&room=lobby") as carol:
            assert json.loads(await carol.recv())["type"] == "welcome"
            await say(alice, "carol, are you there?")
            while True:
                event = json.loads(await asyncio.wait_for(carol.recv(), 10))
                if event["text"] == "carol, are you there?":
                    assert event["user"] == "alice"
                    break
            await carol.send("carol says hi")
            await alice.wait_for(has_line_from("carol", "carol says hi"))
            await bob.wait_for(has_line_from("carol", "carol says hi"))

        # rooms keep to themselves; a room's history greets a newcomer
        await bob.eval("document.querySelector('#rooms button[data-room=random]').click()")
        await bob.wait_for(SUBSCRIBED + " && document.getElementById('room-name')"
                           ".textContent === '# random'")
        await say(alice, "only for the lobby")
        await say(bob, "only for random")
        await bob.wait_for(has_line_from("bob", "only for random"))
        await alice.wait_for(has_line_from("alice", "only for the lobby"))
        await asyncio.sleep(0.3)
        assert not await bob.eval(shows("only for the lobby"))
        assert not await alice.eval(shows("only for random"))

        dana = await browser.open(page_url + "?name=dana")
        await dana.wait_for(has_line_from("alice", "hello from alice"))
        await dana.wait_for(has_line_from("bot", "pong"))
        assert await dana.eval(count_lines("hello from alice")) == 1
    log = server.log.result().decode()
    assert "bot joined lobby, random, help" in log


async def test_a_cut_connection_resumes_with_nothing_missed_or_doubled():
    async with cli_server("--chat", "--no-bot") as (server, url), chromium() as browser:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        async with cutting_proxy(port) as (cut, pport):
            page = await browser.open(f"http://127.0.0.1:{pport}/?name=erin")
            await page.wait_for(SUBSCRIBED)
            async with wskit.connect(url + "channels") as frank:
                await frank.publish("lobby", {"user": "frank", "text": "before the cut"})
                await page.wait_for(has_line_from("frank", "before the cut"))
                cut()
                await page.wait_for("document.getElementById('status').className === 'offline'")
                for i in range(3):
                    await frank.publish("lobby", {"user": "frank", "text": f"missed {i}"})
                await page.wait_for("window.chatState.connects === 2 && " + SUBSCRIBED)
                await frank.publish("lobby", {"user": "frank", "text": "after the return"})
                await page.wait_for(has_line_from("frank", "after the return"))
        for text in ("before the cut", "missed 0", "missed 1", "missed 2", "after the return"):
            assert await page.eval(count_lines(text)) == 1, text
        seqs = await page.eval("[...document.querySelectorAll('#messages li[data-seq]')]"
                               ".map(li => +li.dataset.seq)")
        assert seqs == sorted(set(seqs)) and len(seqs) == 5
        assert await page.eval("window.chatState.gaps") == 0


@contextlib.contextmanager
def redis():
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def test_two_tabs_chat_through_two_instances_sharing_redis():
    with redis() as r:
        async with cli_server("--chat", "--redis", r.url) as (_, url1), \
                cli_server("--chat", "--redis", r.url, "--no-bot") as (_, url2), \
                chromium() as browser:
            assert url1 != url2
            alice = await browser.open(http_url(url1) + "?name=alice")
            bob = await browser.open(http_url(url2) + "?name=bob")
            await alice.wait_for(SUBSCRIBED)
            await bob.wait_for(SUBSCRIBED)
            await say(alice, "hi bob, from instance one")
            await bob.wait_for(has_line_from("alice", "hi bob, from instance one"))
            await say(bob, "hi alice, from instance two")
            await alice.wait_for(has_line_from("bob", "hi alice, from instance two"))
            # the one bot (on instance one) answers bob on instance two, once
            await say(bob, "/bot echo across")
            await bob.wait_for(has_line_from("bot", "across"))
            await alice.wait_for(has_line_from("bot", "across"))
            await asyncio.sleep(0.3)
            for page in (alice, bob):
                assert await page.eval(count_lines("hi bob, from instance one")) == 1
                assert await page.eval(count_lines("across")) == 2  # question and answer


async def test_page_joins_by_form_and_works_with_the_echo_server():
    async with cli_server("--echo") as (_, url), chromium() as browser:
        page = await browser.open(http_url(url))
        await page.wait_for("document.getElementById('name') !== null")
        await page.eval("""(() => {
            document.getElementById('name').value = 'dana';
            document.querySelector('#join button').click();
            return true;
        })()""")
        await page.wait_for("document.getElementById('status').className === 'online'")
        await page.wait_for(SUBSCRIBED)
        await say(page, "echo me")
        # no channels on an echo server: the raw message comes back
        await page.wait_for("[...document.querySelectorAll('#messages li.raw')]"
                            ".some(li => li.textContent === 'echo me')")
