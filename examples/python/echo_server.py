"""echo_server.py [PORT]: a WebSocket echo server on 127.0.0.1:PORT (0 or
none: a free port; the first line printed says which). Every message comes
back with its type. SIGINT/SIGTERM close every connection with 1001.

    .venv/bin/python examples/python/echo_server.py 8765
    .venv/bin/wskit connect ws://127.0.0.1:8765/

The awaitable style: one coroutine per connection. For the callback
style (no task, no future per message; the fastest) see EchoHandler below
and run with --handler.
"""

import asyncio
import signal
import sys

import wskit


async def echo(ws):
    # ends when the client closes; wskit then closes our side with 1000
    async for message in ws:
        await ws.send(message)


class EchoHandler(wskit.Handler):
    def on_message(self, message):
        self.send(message)


async def main(port, handler):
    async with wskit.serve(handler, "127.0.0.1", port) as server:
        print("listening", server.sockets[0].getsockname()[1], flush=True)
        stop = asyncio.get_running_loop().create_future()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
        try:
            await stop
        except asyncio.CancelledError:
            print("shutting down", flush=True)
    # leaving `async with` closed every connection with 1001 and waited for them


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    asyncio.run(main(int(args[0]) if args else 0,
                     EchoHandler if "--handler" in sys.argv else echo))
