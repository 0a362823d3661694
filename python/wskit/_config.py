"""Turn keyword options into a _core.Config (one per server or connect() call)."""

from __future__ import annotations

import base64
from typing import Any, Optional, Sequence, Tuple, Union

from . import _core
from .http import HeadersLike, header_items

__all__ = ["client_config", "server_config", "queue_marks"]


def _seconds(value: Optional[float]) -> float:
    return 0.0 if value is None else float(value)


def _compression(value: Optional[str]) -> bool:
    if value == "deflate":
        return True
    if value is None or value is False:
        return False
    raise ValueError(f'compression must be "deflate" or None, not {value!r}')


def _limits(
    max_size: Optional[int],
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
        max_size=0 if max_size is None else int(max_size),
        write_limit=int(write_limit),
        open_timeout=_seconds(open_timeout),
        ping_interval=_seconds(ping_interval),
        ping_timeout=_seconds(ping_timeout),
        close_timeout=_seconds(close_timeout),
        compression=_compression(compression),
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
    max_size: Optional[int],
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
        **_limits(max_size, write_limit, None, ping_interval, ping_timeout, close_timeout,
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
    max_size: Optional[int],
    write_limit: Union[int, Tuple[int, int]],
) -> Any:
    """A server Config, shared by every connection of the server."""
    if origins is not None and any(o is None for o in origins):
        raise ValueError("origins may only contain str (requests without Origin are refused "
                         "when origins is set)")
    return _core.Config(
        _core.ROLE_SERVER,
        subprotocols=list(subprotocols) if subprotocols else None,
        origins=list(origins) if origins else None,
        **_limits(max_size, write_limit, open_timeout, ping_interval, ping_timeout, close_timeout,
                  compression),
    )
