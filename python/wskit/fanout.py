"""Sending one message to many connections: ``wskit.broadcast()``.

(Channels are the server's: ``ws.subscribe(name)``, ``server.publish()``.)
"""

from __future__ import annotations

from typing import Any, Iterable, List, Union

from . import _core
from .protocol import logger

__all__ = ["broadcast"]


def broadcast(connections: Iterable[Any], message: Union[str, bytes, bytearray, memoryview]
              ) -> List[Any]:
    """Send ``message`` to each connection: str as text, bytes-like as
    binary. The frame is built once (and compressed once per window size
    for peers that negotiated no context takeover), then copied to each
    connection's output; it is not a coroutine and never waits.

    A connection that cannot take the message now is skipped rather than
    buffered for: one that is not open, is in the middle of sending a
    fragmented message, or is over its write limit (a slow reader).
    Returns the skipped connections (empty when all got it), so the caller
    can drop slow readers or try them later.

    ``connections`` may mix awaitable connections and Handlers, server and
    client side (a client masks each copy itself).
    """
    skipped = _core.broadcast(connections, message)
    if skipped:
        logger.debug("broadcast skipped %d slow or closing connection(s)", len(skipped))
    return skipped  # type: ignore[no-any-return]
