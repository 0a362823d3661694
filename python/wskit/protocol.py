"""What the awaitable Connection and the callback-style Handler share: the
C protocol underneath, the handshake glue for both roles, properties, and
how the end of a connection is logged and reported.

The C half (wskit._core.Protocol) calls these hooks once per event:
``_on_made``, ``_on_request``, ``_on_open``, ``_on_rejected``, ``_on_message``,
``_on_ping``, ``_on_pong``, ``_on_closed``, ``_on_lost``, ``_on_writable``.
An exception a hook raises is logged and the connection fails with 1011.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from . import _core
from ._guard import log_access
from .exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, closed_exception
from .http import Headers, Request, Response, parse_head
from .rpc import RpcMixin

if TYPE_CHECKING:  # pragma: no cover
    from .server import Server

__all__ = ["State", "BaseProtocol", "logger"]

logger = logging.getLogger("wskit")


class State(enum.IntEnum):
    """Connection state, as in the websockets library."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


def _report(protocol: Any, exc: BaseException) -> None:
    # Called by the C boundary when a hook raised; the connection is then
    # failed with 1011.
    logger.error("unhandled exception in a connection callback", exc_info=exc)


_core._set_hooks(report=_report)

_CLOCKS: Dict[type, bool] = {}


def _monotonic_clock(loop: asyncio.AbstractEventLoop) -> bool:
    """True when loop.time() is CLOCK_MONOTONIC in seconds (asyncio's own
    loops, uvloop): the C side then reads that clock itself rather than
    calling loop.time() for every read."""
    cls = type(loop)
    known = _CLOCKS.get(cls)
    if known is None:
        t = getattr(cls, "time", None)
        owner = getattr(t, "__objclass__", None)
        known = _CLOCKS[cls] = (t is asyncio.BaseEventLoop.time or
                                (owner is not None and owner.__module__ == "uvloop.loop"))
    return known


class BaseProtocol(RpcMixin, _core.Protocol, asyncio.BufferedProtocol):
    """One WebSocket connection: the C protocol plus the glue both styles
    share, request/response (RpcMixin) and the server's channels."""

    __slots__ = ("_server", "_waiter", "_request", "_response", "_lost_waiter",
                 "_rpc_methods", "_rpc_tasks", "_rpc_last", "_holds", "user", "_guard_bits")

    _server: Optional["Server"]
    _waiter: Optional["asyncio.Future[Any]"]

    def _init_base(self, config: Any, loop: asyncio.AbstractEventLoop,
                   server: Optional["Server"], waiter: Optional["asyncio.Future[Any]"],
                   rbuf: Any) -> None:
        self._setup(config, loop, rbuf, _monotonic_clock(loop))
        self._server = server
        self._waiter = waiter  # client: resolved when the handshake ends
        self._request: Any = None  # raw (target, headers) until asked for
        self._response: Any = None
        self._lost_waiter: Optional["asyncio.Future[None]"] = None
        self._rpc_methods = None  # a Methods table served here (serve/connect methods=)
        self._rpc_tasks = None    # async method calls running
        self._rpc_last = 0        # the last request id we issued
        self._holds = 0           # why reading is paused (rpc.HOLD_* bits)
        # what serve()'s authenticate / first_message_auth returned (server side)
        self.user: Any = None
        self._guard_bits = 0      # admission state (_guard: COUNTED, AUTH_PENDING, ...)

    # ---- properties ----

    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED."""
        return State(self._state)

    @property
    def handshake_request(self) -> Optional[Request]:
        """The opening handshake's request (``.path``, ``.headers``):
        received (server) or sent (client). (``request()`` is JSON-RPC.)"""
        req = self._request
        if req is None:
            raw = self._handshake_bytes if self._is_client else None
            if raw is None:
                return None
            line, headers = parse_head(raw)
            req = (line.split(" ")[1], headers)
        if isinstance(req, tuple):
            req = self._request = Request(req[0], Headers(req[1]))
        return req  # type: ignore[no-any-return]

    @property
    def handshake_response(self) -> Optional[Response]:
        """The opening handshake's response: sent (server) or received (client)."""
        resp = self._response
        if resp is None:
            raw = None if self._is_client else self._handshake_bytes
            if raw is None:
                return None
            line, headers = parse_head(raw)
            resp = self._response = Response(int(line.split(" ")[1]), headers)
        elif isinstance(resp, list):
            resp = self._response = Response(101, resp)
        return resp  # type: ignore[no-any-return]

    @property
    def response(self) -> Optional[Response]:
        """Same as handshake_response."""
        return self.handshake_response

    @property
    def local_address(self) -> Any:
        """The socket's own address (from the transport), or None."""
        t = self.transport
        return t.get_extra_info("sockname") if t is not None else None

    @property
    def remote_address(self) -> Any:
        """The peer's address (from the transport), or None."""
        t = self.transport
        return t.get_extra_info("peername") if t is not None else None

    # ---- channels (server side) ----

    def subscribe(self, channel: str) -> bool:
        """Join a channel of the server (``server.publish(channel, msg)``).
        True when added, False when already a member. The connection
        leaves every channel when it closes."""
        server = self._server
        if server is None:
            raise RuntimeError("channels belong to a server: only its connections subscribe")
        if self._state == 3 or self._lost:
            raise self._closed_exc()
        return server._channels.subscribe(channel, self)  # type: ignore[no-any-return]

    def unsubscribe(self, channel: str) -> bool:
        """Leave a channel; True when the connection was a member."""
        server = self._server
        if server is None:
            return False
        return server._channels.unsubscribe(channel, self)  # type: ignore[no-any-return]

    @property
    def channels(self) -> List[str]:
        """The channels this connection is subscribed to, sorted."""
        server = self._server
        return [] if server is None else server._channels.channels_of(self)

    def _on_made(self) -> None:
        server = self._server
        if server is not None:
            server.connections.add(self)
            server._guard.made(self)

    # ---- admission (server side: serve()'s limits and auth hooks, see _guard) ----

    def _accept(self, subprotocol: Optional[str] = None,
                headers: Optional[List[Tuple[str, str]]] = None) -> bool:
        ok = _core.Protocol._accept(self, subprotocol, headers)
        if ok:
            log_access(self, 101)
        return ok  # type: ignore[no-any-return]

    def _reject(self, status: int = 0, headers: Optional[List[Tuple[str, str]]] = None,
                body: Optional[bytes] = None) -> bool:
        ok = _core.Protocol._reject(self, status, headers, body)
        if ok:
            log_access(self, status)
        return ok  # type: ignore[no-any-return]

    def _on_auth(self, message: Any) -> None:
        # the first message, held for first_message_auth (auth_timeout)
        server = self._server
        if server is None:
            self._authenticate(False, "authentication failed")
            return
        server._guard.on_auth(server, self, message)

    def _app_open(self) -> None:
        """Hand the open connection to the application (deferred until
        first-message authentication succeeds)."""

    # ---- server handshake ----

    def _on_request(self, method: str, target: str, headers: List[Tuple[str, str]],
                    status: int) -> None:
        self._request = (target, headers)
        server = self._server
        if server is None:  # not ours to answer
            self._reject(500)
            return
        server._handshake(self, status)

    # ---- client handshake ----

    def _on_rejected(self, status: int, headers: List[Tuple[str, str]], body: bytes) -> None:
        if status == 101:
            exc: Exception = InvalidHandshake(self._error or "invalid 101 response")
        else:
            exc = InvalidStatus(Response(status, headers, body))
        self._open_failed(exc)

    def _open_done(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(self)

    def _open_failed(self, exc: BaseException) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_exception(exc)

    # ---- the end ----

    def _closed_exc(self) -> ConnectionClosed:
        """The exception describing how this connection ended."""
        return closed_exception(self.close_code, self.close_reason, self._sent_code, self._error)

    def _ended(self) -> None:
        """Common work when CLOSED arrives: fail a pending open and pending
        requests, leave the channels, log why."""
        self._rpc_cancel_all()
        server = self._server
        if server is not None:
            server._channels.drop(self)
        if self._waiter is not None:
            err = self._error or "connection closed during the opening handshake"
            exc = InvalidHandshake(err)
            if self._eof:
                exc.__cause__ = EOFError(err)
            self._open_failed(exc)
        err = self._error
        if err:
            sent = self._sent_code
            if sent is not None and sent not in (1000, 1001):
                logger.warning("connection failed, closed with %d: %s", sent, err)
            else:
                logger.info("connection closed: %s", err)

    def _on_lost(self, exc: Optional[BaseException]) -> None:
        if self._waiter is not None:  # lost before CLOSED could say why
            self._open_failed(InvalidHandshake("connection lost during the opening handshake"))
        w = self._lost_waiter
        if w is not None and not w.done():
            w.set_result(None)
        server = self._server
        if server is not None:
            server._channels.drop(self)  # CLOSED did it already, unless a hook failed first
            server._forget(self)

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed."""
        if self._lost:
            return
        w = self._lost_waiter
        if w is None:
            w = self._lost_waiter = self._loop.create_future()
        await asyncio.shield(w)

    def _on_ping(self, data: bytes) -> None:
        pass

    def _on_writable(self) -> None:
        pass
