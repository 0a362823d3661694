"""What a server checks before and after it lets a connection in: the
per-address connection limit, the handshake ``authenticate`` hook, the
``first_message_auth`` hook, and the counts the application can read.

The decisions that are protocol work live in the core: the Host/Origin
allowlists (handshake), the message rate and the first-message deadline
(the connection: nothing else is parsed before the judgement), the
per-address counter (wsk_iplimit_t). This module calls the user's hooks
and turns their answers into those calls.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Optional

from . import _core
from .http import Response

if TYPE_CHECKING:  # pragma: no cover
    from .protocol import BaseProtocol
    from .server import Server

__all__ = ["Guard", "access_log"]

logger = logging.getLogger("wskit")
# One line per answered handshake; targets pass through the core's
# redaction so tokens in query strings never reach a log.
access_log = logging.getLogger("wskit.access")

# BaseProtocol._guard_bits
COUNTED = 1        # holds a slot of its address in the IpLimit
OVER_LIMIT = 2     # its address was at max_connections_per_ip
AUTH_PENDING = 4   # open, waiting for first_message_auth's judgement
AUTH_DONE = 8      # the handshake authenticate hook has answered
HELD = 16          # open, but not handed to the application (no on_open, no on_close)

IP_RETRY_AFTER = 5  # seconds, the Retry-After of a 429 for too many connections
AUTH_FAILED = "authentication failed"

Authenticate = Callable[[Any, Any], Any]


def peer_ip(conn: "BaseProtocol") -> Optional[str]:
    """The textual IP of the peer, None for a Unix socket."""
    addr = conn.remote_address
    if isinstance(addr, (tuple, list)) and addr and isinstance(addr[0], str):
        return addr[0]
    return None


def _peer_text(conn: "BaseProtocol") -> str:
    addr = conn.remote_address
    if isinstance(addr, (tuple, list)) and len(addr) >= 2:
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in str(host) else f"{host}:{addr[1]}"
    return str(addr or "-")


def log_access(conn: "BaseProtocol", status: int) -> None:
    """Log an answered handshake, the target redacted (wsk_http_redact_target)."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    req = conn.handshake_request
    target = _core.redact_target(req.path) if req is not None else "-"
    if not status:
        resp = conn.handshake_response
        status = resp.status if resp is not None else 0
    access_log.info('%s "%s" %d', _peer_text(conn), target, status)


class Guard:
    """A server's admission rules and counts (one per server)."""

    __slots__ = ("authenticate", "first_message_auth", "ip_limit", "ip_policy", "counts",
                 "_rate_limited_closed", "_pending")

    def __init__(self, *, authenticate: Optional[Authenticate] = None,
                 first_message_auth: Optional[Authenticate] = None,
                 max_connections_per_ip: int = 0, ip_limit_policy: str = "reject") -> None:
        if ip_limit_policy not in ("reject", "close"):
            raise ValueError(f'ip_limit_policy must be "reject" or "close", '
                             f'not {ip_limit_policy!r}')
        if max_connections_per_ip is None:
            max_connections_per_ip = 0
        if int(max_connections_per_ip) < 0:
            raise ValueError("max_connections_per_ip must be >= 0 (0: no limit)")
        for name, hook in (("authenticate", authenticate),
                           ("first_message_auth", first_message_auth)):
            if hook is not None and not callable(hook):
                raise TypeError(f"{name} must be callable")
        self.authenticate = authenticate
        self.first_message_auth = first_message_auth
        self.ip_limit = _core.IpLimit(int(max_connections_per_ip))
        self.ip_policy = ip_limit_policy
        self.counts: Dict[str, int] = dict(ip_rejected=0, ip_closed=0, auth_rejected=0,
                                           auth_failed=0)
        self._rate_limited_closed = 0  # rate_limited of connections already gone
        # async hooks still deciding, cancelled when their connection goes away
        self._pending: "Dict[BaseProtocol, asyncio.Task[Any]]" = {}

    # ---- connections per address ----

    def made(self, conn: "BaseProtocol") -> None:
        """connection_made: count the connection against its address."""
        ip = peer_ip(conn)
        if ip is None:
            return
        if self.ip_limit.acquire(ip):
            conn._guard_bits |= COUNTED
        else:
            conn._guard_bits |= OVER_LIMIT

    def lost(self, conn: "BaseProtocol") -> None:
        """connection_lost: give the slot back, keep the counts."""
        bits = conn._guard_bits
        if bits & COUNTED:
            conn._guard_bits = bits & ~COUNTED
            ip = peer_ip(conn)
            if ip is not None:
                self.ip_limit.release(ip)
        if bits & AUTH_PENDING:
            conn._guard_bits &= ~AUTH_PENDING
            self.counts["auth_failed"] += 1
        self._rate_limited_closed += conn.stats["rate_limited"]
        task = self._pending.pop(conn, None)
        if task is not None:
            task.cancel()

    def _wait(self, server: "Server", conn: "BaseProtocol", coro: Awaitable[Any]) -> None:
        task = server._spawn(coro)
        if not task.done():
            self._pending[conn] = task
            task.add_done_callback(lambda t: self._pending.pop(conn, None)
                                   if self._pending.get(conn) is t else None)

    def refuse(self, conn: "BaseProtocol") -> bool:
        """At the request: True when it was answered with 429 (policy "reject")."""
        if not conn._guard_bits & OVER_LIMIT or self.ip_policy != "reject":
            return False
        self.counts["ip_rejected"] += 1
        conn._reject(429, [("Content-Type", "text/plain; charset=utf-8"),
                           ("Retry-After", str(IP_RETRY_AFTER))],
                     b"Too many connections from your address.\n")
        return True

    # ---- the handshake hook ----

    def check_request(self, server: "Server", conn: "BaseProtocol",
                      proceed: Callable[[], None]) -> bool:
        """Run ``authenticate(ws, request)`` before accepting. Returns True
        when it has taken over: it answered, or it calls ``proceed()`` once
        an async hook agrees."""
        hook = self.authenticate
        if hook is None or conn._guard_bits & AUTH_DONE:
            return False
        conn._guard_bits |= AUTH_DONE
        try:
            answer = hook(conn, conn.handshake_request)
        except Exception:
            logger.error("authenticate failed", exc_info=True)
            conn._reject(500, [], b"Internal Server Error\n")
            return True
        if inspect.isawaitable(answer):
            self._wait(server, conn, self._check_async(server, conn, answer, proceed))
            return True
        return not self._verdict(server, conn, answer)

    async def _check_async(self, server: "Server", conn: "BaseProtocol", answer: Awaitable[Any],
                           proceed: Callable[[], None]) -> None:
        try:
            result = await answer
        except Exception:
            logger.error("authenticate failed", exc_info=True)
            conn._reject(500, [], b"Internal Server Error\n")
            return
        if conn._state != 0:  # closed meanwhile (open_timeout, server closing)
            return
        if self._verdict(server, conn, result):
            proceed()

    def _verdict(self, server: "Server", conn: "BaseProtocol", result: Any) -> bool:
        """True: go on and accept (user data stored); False: answered."""
        if isinstance(result, Response):
            self.counts["auth_rejected"] += 1
            server._respond(conn, result)
            return False
        if result is None or result is False:
            self.counts["auth_rejected"] += 1
            conn._reject(401, [("Content-Type", "text/plain; charset=utf-8")],
                         b"Unauthorized\n")
            return False
        conn.user = result
        return True

    # ---- open, and the first message ----

    def on_open(self, conn: "BaseProtocol") -> bool:
        """The 101 is out: True when the application may see the connection
        now; False when it is closed (too many from its address, policy
        "close") or waits for first-message authentication."""
        bits = conn._guard_bits
        if bits & OVER_LIMIT and self.ip_policy == "close":
            self.counts["ip_closed"] += 1
            conn._guard_bits = bits | HELD
            conn._close(1013, "too many connections from your address")
            return False
        if self.first_message_auth is not None:
            conn._guard_bits = bits | AUTH_PENDING | HELD
            return False
        return True

    def on_auth(self, server: "Server", conn: "BaseProtocol", message: Any) -> None:
        """The first message: ask first_message_auth(ws, message)."""
        hook = self.first_message_auth
        if hook is None:  # auth_timeout without a hook cannot happen through serve()
            conn._authenticate(False, AUTH_FAILED)
            return
        try:
            answer = hook(conn, message)
        except Exception:
            logger.error("first_message_auth failed", exc_info=True)
            conn._close(1011, "internal error")
            return
        if inspect.isawaitable(answer):
            self._wait(server, conn, self._auth_async(conn, answer))
        else:
            self._judge(conn, answer)

    async def _auth_async(self, conn: "BaseProtocol", answer: Awaitable[Any]) -> None:
        try:
            result = await answer
        except Exception:
            logger.error("first_message_auth failed", exc_info=True)
            conn._close(1011, "internal error")
            return
        self._judge(conn, result)

    def _judge(self, conn: "BaseProtocol", result: Any) -> None:
        if conn._state != 1 or not conn._guard_bits & AUTH_PENDING:
            return  # timed out or closed meanwhile: the core has closed it
        conn._guard_bits &= ~AUTH_PENDING
        if result is None or result is False:
            self.counts["auth_failed"] += 1
            conn._authenticate(False, AUTH_FAILED)
            return
        conn.user = result
        conn._guard_bits &= ~HELD
        conn._app_open()  # the handler starts before the held messages flow
        conn._authenticate(True)

    # ---- counts ----

    def stats(self, server: "Server") -> Dict[str, int]:
        """Counts for Server.stats."""
        out = dict(connections=len(server.connections), addresses=len(self.ip_limit))
        out.update(self.counts)
        out["rate_limited"] = self._rate_limited_closed + sum(
            c.stats["rate_limited"] for c in server.connections if not c._lost)
        return out
