"""The chat page of ``wskit serve`` in a real browser: headless Chromium
loads it and chats through the browser's own WebSocket. Two tabs (two
people) talk to each other, and to a wskit client in the same room.

Chromium missing fails these tests (CI installs it); they are not skipped.
"""

import asyncio
import json

import pytest

import wskit
from browser import chromium
from clitools import cli_server, http_url

pytestmark = [pytest.mark.loops("asyncio"), pytest.mark.timeout(90)]


def shows(text):
    """JS: the page's message list contains ``text``."""
    return f"document.getElementById('messages').innerText.includes({json.dumps(text)})"


def has_line_from(name, text):
    """JS: a chat line by ``name`` containing ``text``."""
    return (f"[...document.querySelectorAll('#messages li')].some(li => "
            f"li.dataset.name === {json.dumps(name)} && li.textContent.includes("
            f"{json.dumps(text)}))")


async def say(page, text):
    """Type into the message box and press Send, as a person would."""
    await page.eval(f"""(() => {{
        const box = document.getElementById('text');
        box.value = {json.dumps(text)};
        document.getElementById('send').click();
        return box.value;
    }})()""")


async def test_two_browser_tabs_chat_through_wskit_serve():
    async with cli_server("--chat") as (server, url), chromium() as browser:
        page_url = http_url(url)
        alice = await browser.open(page_url + "?name=alice")
        await alice.wait_for(shows("You are alice."))
        assert await alice.eval("document.getElementById('status').className") == "online"

        bob = await browser.open(page_url + "?name=bob")
        await bob.wait_for(shows("You are bob."))
        await alice.wait_for(shows("bob joined"))
        await alice.wait_for("document.getElementById('users').innerText.includes('bob')")

        # a terminal user in the same room sees the browsers' messages
        async with wskit.connect(url + "?name=carol") as carol:
            assert json.loads(await carol.recv())["type"] == "welcome"
            await bob.wait_for(shows("carol joined"))

            await say(alice, "hello from alice <b>not bold</b>")
            await bob.wait_for(has_line_from("alice", "hello from alice <b>not bold</b>"))
            # text, never markup: the page must not have made a <b>
            assert await bob.eval("document.querySelectorAll('#messages b').length") == 0

            await say(bob, "hi alice, bob here")
            await alice.wait_for(has_line_from("bob", "hi alice, bob here"))

            await carol.send("carol says hi")
            await alice.wait_for(has_line_from("carol", "carol says hi"))
            await bob.wait_for(has_line_from("carol", "carol says hi"))

            texts = []
            while len(texts) < 3:
                event = json.loads(await asyncio.wait_for(carol.recv(), 10))
                if event["type"] == "message":
                    texts.append((event["name"], event["text"]))
            assert texts == [("alice", "hello from alice <b>not bold</b>"),
                             ("bob", "hi alice, bob here"), ("carol", "carol says hi")]

        await alice.wait_for(shows("carol left"))
        await bob.close()
        await alice.wait_for(shows("bob left"))
        users = await alice.eval("document.getElementById('users').innerText")
        assert "bob" not in users and "alice" in users
    log = server.log.result().decode()
    assert "joined as 'alice'" in log and "joined as 'bob'" in log


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
        await say(page, "echo me")
        # no chat events from an echo server: the raw message comes back
        await page.wait_for("[...document.querySelectorAll('#messages li.raw')]"
                            ".some(li => li.textContent === 'echo me')")
