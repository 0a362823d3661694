"""reconnecting_bot.py URL: a bot that stays connected. Whenever the
connection drops (server restart, network loss) it reconnects, waiting as
the core's backoff says (with jitter, growing up to max_delay); it says
"bot" on every connection, answers "ping" with "pong", and reports every
event. Ctrl-C ends it.

    .venv/bin/python examples/python/reconnecting_bot.py ws://127.0.0.1:8765/
"""

import asyncio
import logging
import sys

import wskit


async def main(url):
    backoff = wskit.Backoff(initial_delay=0.5, min_delay=1, max_delay=30)
    attempt = 0
    # each iteration is one connection; failures to connect are retried
    # inside the iterator (the retry log lines come from the "wskit" logger)
    async for ws in wskit.connect(url, backoff=backoff):
        attempt += 1
        print(f"connected (connection {attempt})", flush=True)
        try:
            await ws.send("bot")
            async for message in ws:
                print("<", message, flush=True)
                if message == "ping":
                    await ws.send("pong")
            print(f"closed: {ws.close_code} {ws.close_reason}, reconnecting", flush=True)
        except wskit.ConnectionClosed as exc:
            print(f"closed: {exc}, reconnecting", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/"))
    except KeyboardInterrupt:
        pass
