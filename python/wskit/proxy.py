"""HTTP CONNECT tunnels for ``connect(..., proxy=...)``.

The core decides which proxy a URL uses (``_core.proxy_resolve``: the
option, or https_proxy / http_proxy / no_proxy as curl reads them), builds
the CONNECT request and checks the answer with its bounded HTTP parser.
This module only moves the bytes: a non-blocking socket to the proxy, the
request out, the answer in; the caller then runs the WebSocket (and for
wss:// the TLS handshake with the target's name) over the same socket.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Optional, Tuple

from . import _core
from .exceptions import InvalidHandshake, InvalidProxyStatus
from .http import Response

__all__ = ["open_tunnel"]

# The answer is a short head; the core's parser refuses more than 16 KiB.
_READ = 4096


async def _connect(loop: asyncio.AbstractEventLoop, host: str, port: int) -> socket.socket:
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    last: Optional[BaseException] = None
    for family, type_, proto, _, addr in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, addr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    if last is not None:
        raise last
    raise OSError(f"no address for the proxy {host}:{port}")


async def open_tunnel(loop: asyncio.AbstractEventLoop, proxy: Tuple[str, int, str],
                      host: str, port: int) -> Tuple[socket.socket, bytes]:
    """Connect to ``proxy`` (host, port, Proxy-Authorization value) and ask
    it for a tunnel to host:port. Returns the connected socket and the
    bytes that came after the proxy's 2xx answer (they are the target's).

    Raises InvalidProxyStatus when the proxy refuses (407, 403, 502...),
    InvalidHandshake when it hangs up or answers something that is not
    HTTP, OSError when it cannot be reached.
    """
    phost, pport, auth = proxy
    request = _core.proxy_connect_request(host, port, auth)
    sock = await _connect(loop, phost, pport)
    try:
        await loop.sock_sendall(sock, request)
        answer = b""
        while True:
            chunk = await loop.sock_recv(sock, _READ)
            if not chunk:
                err = f"the proxy {phost}:{pport} closed the connection before answering CONNECT"
                raise InvalidHandshake(err) from EOFError(err)
            answer += chunk
            try:
                parsed = _core.proxy_parse_answer(answer)
            except ValueError as exc:
                raise InvalidHandshake(f"proxy {phost}:{pport}: {exc}") from None
            if parsed is not None:
                break
        status, reason, headers, head_len, tunnel_open = parsed
        if not tunnel_open:
            raise InvalidProxyStatus(Response(status, headers, b"", reason))
        return sock, answer[head_len:]
    except BaseException:
        sock.close()
        raise
