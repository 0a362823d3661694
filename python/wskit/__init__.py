"""wskit: a fast WebSocket client and server for asyncio on a strict C core.

Awaitable style (like the websockets library's asyncio API)::

    import wskit

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with wskit.serve(echo, "127.0.0.1", 8765):
        async with wskit.connect("ws://127.0.0.1:8765") as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"

Callback style (no future per message): subclass wskit.Handler.
JSON-RPC both ways: ``serve(..., methods=wskit.Methods())`` and
``await ws.request(method, params)``. Fan-out: ``wskit.broadcast()``,
``ws.subscribe(name)`` / ``server.publish(name, msg)``. Guide: docs/python.md.
"""

from . import _core, auth
from .client import USER_AGENT, ClientConnection, connect, unix_connect
from .channels_client import ChannelMessage
from .connection import Connection, Data
from .exceptions import (ConnectionClosed, ConnectionClosedError, ConnectionClosedOK,
                         InvalidHandshake, InvalidProxyStatus, InvalidStatus, InvalidURI,
                         PayloadTooBig, ProtocolError, RequestError, RequestTimeout,
                         WebSocketException, ChannelGap, ChannelError)
from .exceptions import BackplaneUnavailable
from .fanout import broadcast
from .handler import Handler
from .http import Headers, Request, Response
from .protocol import State
from .reconnect import Backoff, process_exception
from .rpc import Methods
from .sse_client import SseEvent, sse_connect
from .server import Server, ServerConnection, serve, unix_serve

__version__: str = _core.__version__

__all__ = [
    "connect", "unix_connect", "serve", "unix_serve",
    "Connection", "ClientConnection", "ServerConnection", "Server", "Handler", "State", "Data",
    "Headers", "Request", "Response", "Backoff", "process_exception", "USER_AGENT",
    "WebSocketException", "ConnectionClosed", "ConnectionClosedOK", "ConnectionClosedError",
    "InvalidURI", "InvalidHandshake", "InvalidStatus", "PayloadTooBig", "ProtocolError",
    "broadcast", "Methods", "RequestError", "RequestTimeout", "InvalidProxyStatus",
    "ChannelMessage", "ChannelGap", "ChannelError", "sse_connect", "SseEvent",
    "BackplaneUnavailable",
]
