"""The bot of ``wskit serve --chat``: a wskit client in the server's own
process that joins the rooms over the channel protocol (/channels), like
any other client, and answers messages addressed to it ("/bot ..." or
"bot: ..."). It reconnects and resumes with ``async for ws in connect()``,
so it never answers a message twice nor misses one within the history.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Optional, Sequence

from .. import ChannelError, ChannelGap, ChannelMessage, ConnectionClosed, connect
from ..reconnect import Backoff

log = logging.getLogger("wskit.serve")

BOT_NAME = "bot"
PREFIXES = ("/bot", "bot:", "@bot")


def addressed(text: str) -> Optional[str]:
    """The rest of a message meant for the bot, or None."""
    t = text.strip()
    for p in PREFIXES:
        if t.lower().startswith(p):
            return t[len(p):].strip()
    return None


def answer(user: str, question: str, room: str, rooms: Sequence[str]) -> str:
    """What the bot says back (plain text)."""
    words = question.split(None, 1)
    cmd = words[0].lower() if words else ""
    rest = words[1] if len(words) > 1 else ""
    if cmd in ("", "help"):
        return ("commands: /bot help, /bot time, /bot rooms, /bot echo TEXT, /bot ping. "
                "Messages have sequence numbers; reconnect and you get what you missed.")
    if cmd == "time":
        return "server time: " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    if cmd == "rooms":
        return "rooms: " + ", ".join(rooms) + f" (you are in {room})"
    if cmd == "echo":
        return rest or "(nothing to echo)"
    if cmd == "ping":
        return "pong"
    return f"hi {user}, I did not get {cmd!r}; try /bot help"


async def run_bot(url: str, rooms: Sequence[str], ssl: Any = None,
                  ready: Optional[asyncio.Event] = None) -> None:
    """Join ``rooms`` at ``url`` (the server's channels_path) and answer
    until cancelled; ``ready`` is set once it is in every room."""
    kw: dict = {"proxy": None, "max_queue": 256,
                "backoff": Backoff(initial_delay=0.2, min_delay=0.5, max_delay=5)}
    if ssl is not None:
        kw["ssl"] = ssl
    async for ws in connect(url, **kw):
        try:
            for room in rooms:  # the first time; later connect() resubscribes them
                if ws._chan is None or ws._chan.tracker is None or \
                        ws._chan.tracker.position(room) is None:
                    await ws.subscribe(room)
            log.info("bot joined %s", ", ".join(rooms))
            if ready is not None:
                ready.set()
            while True:
                try:
                    m = await ws.recv()
                except ChannelGap as gap:
                    log.info("bot: %s", gap)
                    continue
                if not isinstance(m, ChannelMessage) or not isinstance(m.data, dict):
                    continue
                user, text = m.data.get("user"), m.data.get("text")
                if user == BOT_NAME or not isinstance(text, str):
                    continue
                question = addressed(text)
                if question is None:
                    continue
                reply = answer(str(user), question, m.channel, rooms)
                try:
                    await ws.publish(m.channel, {"user": BOT_NAME, "text": reply,
                                                 "time": int(time.time() * 1000)})
                except ChannelError as exc:
                    log.warning("bot could not answer in %s: %s", m.channel, exc)
        except ConnectionClosed:
            continue
        except asyncio.TimeoutError as exc:  # a request without an answer: start over
            log.warning("bot: %s", exc)
            continue
