"""chat_server.py [PORT]: a chat room on 127.0.0.1:PORT (0 or none: a free
port; the first line printed says which). Each connection's first message
is its name; after that, every text message goes to everyone as
"name: text", and "name joined" / "name left" announce arrivals. GET
/health (plain HTTP) answers "ok". SIGINT/SIGTERM close with 1001.

    .venv/bin/python examples/python/chat_server.py 8765
    .venv/bin/wskit connect ws://127.0.0.1:8765/    (type your name, then chat)

`wskit serve --chat` is the same idea with JSON events and a browser page.
"""

import asyncio
import signal
import sys

import wskit

members = {}  # connection -> name, while it is in the room


def broadcast(text):
    # framed once, copied to every member without waiting; a member over
    # its write limit (a slow reader) misses it instead of holding us up
    wskit.broadcast(members, text)


async def chat(ws):
    try:
        name = await asyncio.wait_for(ws.recv(), 30)
    except asyncio.TimeoutError:
        await ws.close(1008, "say your name first")
        return
    if not isinstance(name, str) or not name.strip():
        await ws.close(1008, "a name is text")
        return
    name = name.strip()[:32]
    members[ws] = name
    broadcast(f"{name} joined")
    try:
        async for message in ws:
            if isinstance(message, str):
                broadcast(f"{name}: {message}")
    finally:
        del members[ws]
        broadcast(f"{name} left")


def health(ws, request):
    if request.path == "/health":
        return wskit.Response(200, [("Content-Type", "text/plain")], "ok\n")
    return None  # anything else goes on to the WebSocket handshake


async def main(port):
    async with wskit.serve(chat, "127.0.0.1", port, process_request=health) as server:
        print("listening", server.sockets[0].getsockname()[1], flush=True)
        stop = asyncio.get_running_loop().create_future()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
        try:
            await stop
        except asyncio.CancelledError:
            print("shutting down", flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
