"""Reconnecting: how long to wait (the core's backoff) and which failures
are worth another attempt (the core's classification), for
``async for ws in wskit.connect(...)``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any, Optional, Tuple

from . import _core
from .exceptions import InvalidHandshake, InvalidStatus, InvalidURI

__all__ = ["Backoff", "classify", "process_exception"]


class Backoff:
    """Reconnection delays, in seconds.

    The first delay after a disconnect is uniform in [0, initial_delay], so
    a fleet of clients does not reconnect in step; later ones start at
    min_delay and grow by ``factor`` up to max_delay, each scaled by a
    random factor in [1 - jitter, 1 + jitter]. A connection that stayed up
    ``reset_after`` seconds starts the sequence over. ``max_attempts``
    consecutive failures (0: no limit) end the reconnecting loop with the
    last error.
    """

    __slots__ = ("initial_delay", "min_delay", "factor", "max_delay", "jitter",
                 "max_attempts", "reset_after")

    def __init__(self, *, initial_delay: float = 1.0, min_delay: float = 1.0,
                 factor: float = 1.618, max_delay: float = 60.0, jitter: float = 0.2,
                 max_attempts: int = 0, reset_after: float = 10.0) -> None:
        self.initial_delay = initial_delay
        self.min_delay = min_delay
        self.factor = factor
        self.max_delay = max_delay
        self.jitter = jitter
        self.max_attempts = max_attempts
        self.reset_after = reset_after

    def policy(self) -> Any:
        """A fresh _core.Backoff with these settings (delays in ms)."""
        def ms(s: float) -> int:
            return max(0, int(round(s * 1000)))
        return _core.Backoff(
            initial_delay_ms=ms(self.initial_delay), min_delay_ms=ms(self.min_delay),
            factor=float(self.factor), max_delay_ms=ms(self.max_delay),
            jitter=float(self.jitter), max_attempts=int(self.max_attempts),
            reset_after_ms=ms(self.reset_after))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"Backoff({fields})"


def classify(exc: BaseException) -> Optional[Tuple[int, int]]:
    """The core's (FAIL_* kind, detail) for a failed connection attempt, or
    None for errors that are not about the network (never retried)."""
    if isinstance(exc, InvalidURI):
        return None
    if isinstance(exc, InvalidStatus):
        return _core.FAIL_HTTP_STATUS, exc.response.status
    if isinstance(exc, InvalidHandshake):
        # lost in the middle of the handshake: an I/O failure, not a refusal
        if isinstance(exc.__cause__, (EOFError, OSError)):
            return _core.FAIL_IO, 0
        return _core.FAIL_HANDSHAKE, 0
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _core.FAIL_TLS_VERIFY, 0
    if isinstance(exc, ssl.SSLError):
        return _core.FAIL_TLS, 0
    if isinstance(exc, socket.gaierror):
        return _core.FAIL_DNS, 0
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return _core.FAIL_TIMEOUT, 0
    if isinstance(exc, (ConnectionError, EOFError)):
        return _core.FAIL_REFUSED, 0
    if isinstance(exc, OSError):
        return _core.FAIL_IO, 0
    return None


def process_exception(exc: Exception) -> Optional[Exception]:
    """Default ``process_exception`` hook of connect(): None to retry
    (the core's wsk_failure_should_retry says so), else the exception to
    raise. Pass your own to connect(process_exception=...); call this one
    from it to keep the defaults."""
    failure = classify(exc)
    if failure is None:
        return exc
    return None if _core.failure_should_retry(*failure) else exc
