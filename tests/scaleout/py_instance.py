"""A Python wskit instance for the scale-out tests: channels over the JSON
protocol at /channels and SSE at /events, sharing the Redis backplane given
on the command line. Prints "ready" once listening."""
import asyncio
import logging
import sys

import wskit


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(port, backplane):
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    async with wskit.serve(echo, "127.0.0.1", port, channels_path="/channels",
                           sse_path="/events", backplane=backplane, history_size=1000):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
