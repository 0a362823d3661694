"""Peers and servers for the tests, all on 127.0.0.1 with port 0.

Every peer speaks the same echo protocol: a message comes back with its
type; the text "close:CODE:REASON" makes the peer close with CODE."""

import asyncio
import contextlib
import os
import shutil

import wskit

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_PEER = os.path.join(HERE, "peers", "ws_peer.js")


def port_of(server):
    return server.sockets[0].getsockname()[1]


def close_command(message):
    """(code, reason) when message is a close command, else None."""
    if isinstance(message, str) and message.startswith("close:"):
        _, code, reason = message.split(":", 2)
        return int(code), reason
    return None


async def wskit_echo(ws):
    async for message in ws:
        cmd = close_command(message)
        if cmd:
            await ws.close(*cmd)
            return
        await ws.send(message)


@contextlib.asynccontextmanager
async def wskit_server(handler=wskit_echo, **kwargs):
    async with wskit.serve(handler, "127.0.0.1", 0, **kwargs) as server:
        yield server, f"ws://127.0.0.1:{port_of(server)}/"


@contextlib.asynccontextmanager
async def websockets_server(**kwargs):
    import websockets

    async def echo(ws):
        async for message in ws:
            cmd = close_command(message)
            if cmd:
                await ws.close(*cmd)
                return
            await ws.send(message)

    server = await websockets.serve(echo, "127.0.0.1", 0, **kwargs)
    try:
        yield f"ws://127.0.0.1:{port_of(server)}/"
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def aiohttp_server(**ws_kwargs):
    from aiohttp import WSMsgType, web

    async def handler(request):
        ws = web.WebSocketResponse(**ws_kwargs)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                cmd = close_command(msg.data)
                if cmd:
                    await ws.close(code=cmd[0], message=cmd[1].encode())
                    break
                await ws.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"ws://127.0.0.1:{port_of(site._server)}/"
    finally:
        await runner.cleanup()


def node_available():
    return shutil.which("node") is not None and os.path.isdir("/usr/share/nodejs/ws")


@contextlib.asynccontextmanager
async def node_process(*args):
    """Run the Node peer; yields the process (stdout is a pipe)."""
    env = dict(os.environ, NODE_PATH="/usr/share/nodejs")
    proc = await asyncio.create_subprocess_exec(
        "node", NODE_PEER, *args, stdout=asyncio.subprocess.PIPE, env=env)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def read_line(proc, timeout=10):
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    return line.decode().strip()


@contextlib.asynccontextmanager
async def node_server(deflate):
    async with node_process("server", "deflate" if deflate else "plain") as proc:
        line = await read_line(proc)
        assert line.startswith("PORT "), line
        proc.url = f"ws://127.0.0.1:{line.split()[1]}/"
        yield proc


@contextlib.asynccontextmanager
async def peer_server(name, compression=True, max_size=8 << 20, subprotocols=None):
    """One of the foreign echo servers; yields its URL."""
    if name == "websockets":
        async with websockets_server(compression="deflate" if compression else None,
                                     max_size=max_size, subprotocols=subprotocols) as url:
            yield url
    elif name == "aiohttp":
        async with aiohttp_server(compress=compression, max_msg_size=max_size,
                                  protocols=subprotocols or ()) as url:
            yield url
    elif name == "node":
        async with node_server(compression) as proc:
            yield proc.url
    else:  # pragma: no cover
        raise ValueError(name)


PEERS = ["websockets", "aiohttp", "node"]


def make_cert(directory):
    """A self-signed certificate for 127.0.0.1/localhost: (certfile, keyfile)."""
    import subprocess

    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
         cert, "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60)
    return cert, key
