"""python3-websockets client of the JSON channel protocol, for the Lua
specs (loopback, bounded to 15 s).

  py_channels.py URL CHANNEL COUNT [--since N --epoch E] [--publish TEXT]
                 [--header "Name: value"]

Subscribes to CHANNEL (resuming after N of epoch E when given), prints
every frame it gets as "FRAME <json>", waits for COUNT "message" frames,
then publishes TEXT when asked (and prints the answer), prints "DONE" and
exits 0; "FAIL ..." and 1 on a timeout or a closed connection."""
import argparse
import asyncio
import json
import sys

import websockets


async def main(a):
    headers = [tuple(x.split(": ", 1)) for x in a.header]
    async with websockets.connect(a.url, extra_headers=headers) as ws:
        sub = {"type": "subscribe", "channel": a.channel}
        if a.since is not None:
            sub["since"] = a.since
            sub["epoch"] = a.epoch
        await ws.send(json.dumps(sub))
        seen = 0

        async def frame():
            f = json.loads(await ws.recv())
            print("FRAME", json.dumps(f, sort_keys=True), flush=True)
            return f

        while seen < a.count:
            f = await frame()
            if f["type"] == "message" and f["channel"] == a.channel:
                seen += 1
        if a.publish is not None:
            await ws.send(json.dumps({"type": "publish", "channel": a.channel,
                                      "data": a.publish}))
            while (await frame())["type"] not in ("published", "error"):
                pass
        print("DONE", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("channel")
    p.add_argument("count", type=int)
    p.add_argument("--since", type=int)
    p.add_argument("--epoch")
    p.add_argument("--publish")
    p.add_argument("--header", action="append", default=[])
    a = p.parse_args()
    try:
        asyncio.run(asyncio.wait_for(main(a), 15))
    except (asyncio.TimeoutError, websockets.ConnectionClosed, OSError) as e:
        print("FAIL", type(e).__name__, e, flush=True)
        sys.exit(1)
