"""Exceptions raised by wskit.

::

    WebSocketException
    ├── ConnectionClosed            recv()/send() on a closed connection
    │   ├── ConnectionClosedOK      ... that closed normally (1000, 1001, 1005)
    │   └── ConnectionClosedError   ... that failed (other codes, or no close frame)
    ├── InvalidURI                  connect() got a URL it cannot use (also a ValueError)
    ├── InvalidHandshake            the opening handshake failed
    │   └── InvalidStatus           the server answered with a status other than 101
    │       └── InvalidProxyStatus  the HTTP proxy refused the tunnel (407, 403, 502...)
    ├── PayloadTooBig               the cause of a 1009 close we sent
    ├── ProtocolError               the cause of a 1002/1007 close we sent
    ├── RequestError                a JSON-RPC request got an error reply
    ├── RequestTimeout              ... or no reply in time (also a TimeoutError)
    ├── ChannelGap                  channel messages were lost (raised by recv(); the
    │                               connection stays usable)
    └── ChannelError                the server refused a subscribe/unsubscribe/publish
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from .http import Response

__all__ = [
    "WebSocketException",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidURI",
    "InvalidHandshake",
    "InvalidStatus",
    "PayloadTooBig",
    "ProtocolError",
    "InvalidProxyStatus",
    "RequestError",
    "RequestTimeout",
    "ChannelGap",
    "ChannelError",
    "BackplaneUnavailable",
]

# Codes that end a connection normally, on either side.
OK_CLOSE_CODES = frozenset((1000, 1001, 1005))


class WebSocketException(Exception):
    """Base class of every exception wskit defines."""


class ConnectionClosed(WebSocketException):
    """The connection is closed (or closing), so the operation cannot run.

    ``code`` and ``reason`` come from the peer's close frame: ``code`` is
    1005 when that frame had no code and 1006 when no close frame came at
    all. ``sent_code`` is the code we sent, or None.
    """

    code: int
    reason: str
    sent_code: Optional[int]

    def __init__(self, code: int = 1006, reason: str = "", sent_code: Optional[int] = None) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason
        self.sent_code = sent_code

    def __str__(self) -> str:
        if self.code == 1006:
            text = "no close frame received"
        else:
            text = f"received {self.code}" + (f" ({self.reason})" if self.reason else "")
        if self.sent_code is not None:
            text += f"; sent {self.sent_code}"
        return text


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed normally (1000, 1001 or no code, both ways)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection failed: an error code, or no closing handshake."""


class InvalidURI(WebSocketException, ValueError):
    """A URI that is not a usable ws:// or wss:// URL."""

    def __init__(self, uri: str, msg: str) -> None:
        super().__init__(uri, msg)
        self.uri = uri
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.uri} isn't a valid URI: {self.msg}"


class InvalidHandshake(WebSocketException):
    """The opening handshake failed (invalid response, connection lost...)."""


class InvalidStatus(InvalidHandshake):
    """The server answered the upgrade with a status other than 101.

    ``response`` holds the status, headers and body of that answer.
    """

    def __init__(self, response: "Response") -> None:
        super().__init__(response)
        self.response = response

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.response.status}"


class InvalidProxyStatus(InvalidStatus):
    """The HTTP proxy answered CONNECT with a status other than 2xx: 407
    (it wants credentials: put them in the proxy URL), 403, 502...

    ``response`` holds the proxy's status and headers (not the body).
    """

    def __str__(self) -> str:
        r = self.response
        return f"proxy refused the tunnel: HTTP {r.status}" + (f" {r.reason}" if r.reason else "")


class PayloadTooBig(WebSocketException):
    """A message was over max_size: we closed the connection with 1009."""


class ProtocolError(WebSocketException):
    """The peer broke the protocol: we closed the connection with 1002 or 1007."""


class RequestError(WebSocketException):
    """A JSON-RPC error: the peer's error reply to ``request()``, or what a
    method raises to answer with a chosen ``code``, ``message`` and ``data``.

    Codes of the specification: PARSE_ERROR -32700, INVALID_REQUEST -32600,
    METHOD_NOT_FOUND -32601, INVALID_PARAMS -32602, INTERNAL_ERROR -32603;
    -32000 to -32099 are server errors (SERVER_ERROR -32000).
    """

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    SERVER_ERROR = -32000

    code: int
    message: str
    data: Any

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(code, message, data)
        self.code = int(code)
        self.message = str(message)
        self.data = data

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"


# asyncio.TimeoutError is TimeoutError from Python 3.11 on; before, both.
_TIMEOUT_BASES = ((asyncio.TimeoutError,) if asyncio.TimeoutError is TimeoutError
                  else (asyncio.TimeoutError, TimeoutError))


class RequestTimeout(WebSocketException, *_TIMEOUT_BASES):  # type: ignore[misc]
    """A request got no reply within its timeout (the request is forgotten:
    a reply arriving later is dropped). ``method`` and ``timeout`` say which."""

    def __init__(self, method: str, timeout: float) -> None:
        super().__init__(method, timeout)
        self.method = method
        self.timeout = timeout

    def __str__(self) -> str:
        return f"no reply to {self.method!r} within {self.timeout:g} s"


class ChannelGap(WebSocketException):
    """Messages ``first`` to ``last`` (sequence numbers, inclusive) of
    ``channel`` are lost for good: they left the server's history before
    this client resumed (``reason`` "expired"), or the channel's history was
    reset ("epoch"). Raised by recv() in the order the messages would have
    come; the connection stays usable and the next recv() goes on."""

    def __init__(self, channel: str, first: int, last: int, reason: str) -> None:
        super().__init__(channel, first, last, reason)
        self.channel = channel
        self.first = first
        self.last = last
        self.reason = reason

    def __str__(self) -> str:
        return (f"channel {self.channel!r}: messages {self.first} to {self.last} are lost "
                f"({self.reason})")


class ChannelError(WebSocketException):
    """The server answered a channel request with an error: ``code`` is its
    token ("forbidden", "rate_limited", "unavailable", "bad_request",
    "not_subscribed", "too_many_channels"), ``message`` its text."""

    def __init__(self, code: str, message: str = "", channel: Optional[str] = None) -> None:
        super().__init__(code, message, channel)
        self.code = code
        self.message = message
        self.channel = channel

    def __str__(self) -> str:
        where = f" on channel {self.channel!r}" if self.channel is not None else ""
        return f"{self.code}{where}" + (f": {self.message}" if self.message else "")


class BackplaneUnavailable(ChannelError):
    """The backplane (Redis) is down: a publish or subscribe that needs it
    failed. Local subscribers keep being served; it reconnects by itself.
    ``code`` is "unavailable"."""

    def __init__(self, code: str = "unavailable", message: str = "the backplane is down",
                 channel: Optional[str] = None) -> None:
        super().__init__(code, message, channel)


def closed_exception(
    code: Optional[int], reason: Optional[str], sent_code: Optional[int], error: str = ""
) -> ConnectionClosed:
    """The ConnectionClosed subclass describing how a connection ended.

    ``error`` is the core's sentence about a failure; it becomes the
    exception's ``__cause__`` (PayloadTooBig, ProtocolError) when it
    explains a close code we sent.
    """
    if code is None:
        code = 1006
    ok = code in OK_CLOSE_CODES and (sent_code is None or sent_code in OK_CLOSE_CODES)
    if code == 1006:
        ok = False
    cls = ConnectionClosedOK if ok else ConnectionClosedError
    exc = cls(code, reason or "", sent_code)
    if error and sent_code == 1009:
        exc.__cause__ = PayloadTooBig(error)
    elif error and sent_code in (1002, 1007):
        exc.__cause__ = ProtocolError(error)
    return exc
