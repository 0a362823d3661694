"""Turn keyword options into a _core.Config (one per server or connect() call)."""

from __future__ import annotations

import base64
from typing import Any, Optional, Sequence, Tuple, Union

from . import _core
from .http import HeadersLike, header_items

__all__ = ["client_config", "server_config", "queue_marks", "Limits"]


def _seconds(value: Optional[float]) -> float:
    return 0.0 if value is None else float(value)


def _compression(value: Optional[str]) -> bool:
    if value == "deflate":
        return True
    if value is None or value is False:
        return False
    raise ValueError(f'compression must be "deflate" or None, not {value!r}')


class Limits:
    """Limits on what the peer sends, with their defaults (the core's)."""

    __slots__ = ("max_size", "max_frame_size", "max_fragments", "max_line_size",
                 "max_head_size", "max_headers", "streaming")

    def __init__(self, max_size: Optional[int] = 2**20, max_frame_size: Optional[int] = None,
                 max_fragments: int = 16384, max_line_size: int = 8192,
                 max_head_size: int = 16384, max_headers: int = 128,
                 streaming: bool = False) -> None:
        for name, value in (("max_fragments", max_fragments), ("max_line_size", max_line_size),
                            ("max_head_size", max_head_size), ("max_headers", max_headers)):
            if int(value) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name, value in (("max_size", max_size), ("max_frame_size", max_frame_size)):
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be None or at least 1")
        self.max_size = max_size
        self.max_frame_size = max_frame_size
        self.max_fragments = max_fragments
        self.max_line_size = max_line_size
        self.max_head_size = max_head_size
        self.max_headers = max_headers
        self.streaming = streaming

    def config(self) -> dict:
        return dict(
            max_size=0 if self.max_size is None else int(self.max_size),
            # None: as max_size; with max_size None too, no frame limit
            max_frame_size=0 if self.max_frame_size is None else int(self.max_frame_size),
            max_fragments=int(self.max_fragments),
            max_line=int(self.max_line_size),
            max_head=int(self.max_head_size),
            max_headers=int(self.max_headers),
            streaming=bool(self.streaming),
        )


def _limits(
    limits: Limits,
    write_limit: Union[int, Tuple[int, int]],
    open_timeout: Optional[float],
    ping_interval: Optional[float],
    ping_timeout: Optional[float],
    close_timeout: Optional[float],
    compression: Optional[str],
) -> dict:
    if isinstance(write_limit, tuple):  # (high, low) as in websockets; the core takes high
        write_limit = write_limit[0]
    return dict(
        write_limit=int(write_limit),
        open_timeout=_seconds(open_timeout),
        ping_interval=_seconds(ping_interval),
        ping_timeout=_seconds(ping_timeout),
        close_timeout=_seconds(close_timeout),
        compression=_compression(compression),
        **limits.config(),
    )


def queue_marks(max_queue: Union[int, Tuple[int, int], None]) -> Tuple[Optional[int], int]:
    """(high, low) water marks of the receive queue; high None = unbounded."""
    if max_queue is None:
        return None, 0
    if isinstance(max_queue, tuple):
        high, low = max_queue
    else:
        high, low = max_queue, max_queue // 4
    if high < 1 or not 0 <= low < high:
        raise ValueError("max_queue must be >= 1, with 0 <= low < high")
    return high, low


def client_config(
    url: dict,
    *,
    subprotocols: Optional[Sequence[str]],
    additional_headers: Optional[HeadersLike],
    origin: Optional[str],
    user_agent: Optional[str],
    compression: Optional[str],
    ping_interval: Optional[float],
    ping_timeout: Optional[float],
    close_timeout: Optional[float],
    limits: Limits,
    write_limit: Union[int, Tuple[int, int]],
) -> Any:
    """A client Config for a parsed URL (see _core.url_parse). The open
    timeout is left to connect(), which also times TCP and TLS."""
    authorization = None
    if url["userinfo"]:
        authorization = "Basic " + base64.b64encode(url["userinfo"]).decode()
    return _core.Config(
        _core.ROLE_CLIENT,
        host=url["host"],
        port=url["port"],
        secure=url["secure"],
        resource=url["resource"],
        origin=origin,
        subprotocols=list(subprotocols) if subprotocols else None,
        headers=header_items(additional_headers),
        user_agent=user_agent,
        authorization=authorization,
        **_limits(limits, write_limit, None, ping_interval, ping_timeout, close_timeout,
                  compression),
    )


def server_config(
    *,
    subprotocols: Optional[Sequence[str]],
    origins: Optional[Sequence[str]],
    compression: Optional[str],
    open_timeout: Optional[float],
    ping_interval: Optional[float],
    ping_timeout: Optional[float],
    close_timeout: Optional[float],
    limits: Limits,
    write_limit: Union[int, Tuple[int, int]],
    hosts: Optional[Sequence[str]] = None,
    auth_timeout: Optional[float] = None,
    message_rate: Optional[float] = None,
    message_burst: Optional[float] = None,
    rate_policy: str = "error",
) -> Any:
    """A server Config, shared by every connection of the server."""
    if origins is not None and any(o is None for o in origins):
        raise ValueError("origins may only contain str (requests without Origin are refused "
                         "when origins is set)")
    if isinstance(origins, str) or isinstance(hosts, str):
        raise TypeError("origins and hosts are sequences of str, not a str")
    if hosts is not None and not all(isinstance(h, str) and h for h in hosts):
        raise ValueError("hosts may only contain non-empty str")
    return _core.Config(
        _core.ROLE_SERVER,
        subprotocols=list(subprotocols) if subprotocols else None,
        origins=list(origins) if origins else None,
        hosts=list(hosts) if hosts else None,
        **_limits(limits, write_limit, open_timeout, ping_interval, ping_timeout, close_timeout,
                  compression),
        **rate_options(auth_timeout, message_rate, message_burst, rate_policy),
    )


_RATE_POLICIES = {"error": _core.RATE_ERROR, "drop": _core.RATE_DROP, "close": _core.RATE_CLOSE}


def rate_options(auth_timeout: Optional[float], message_rate: Optional[float],
                 message_burst: Optional[float], rate_policy: str) -> dict:
    """The core's first-message and message-rate options (conn.h)."""
    if rate_policy not in _RATE_POLICIES:
        raise ValueError(f'rate_policy must be "error", "drop" or "close", not {rate_policy!r}')
    rate = 0.0 if message_rate is None else float(message_rate)
    burst = 0.0 if message_burst is None else float(message_burst)
    if not rate >= 0 or not burst >= 0:
        raise ValueError("message_rate and message_burst must be >= 0")
    if auth_timeout is not None and not float(auth_timeout) > 0:
        raise ValueError("auth_timeout must be > 0 seconds")
    return dict(auth_timeout=_seconds(auth_timeout), rate=rate, rate_burst=burst,
                rate_policy=_RATE_POLICIES[rate_policy])
