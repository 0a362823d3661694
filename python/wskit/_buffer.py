"""The receive buffer, one per thread, shared by that thread's connections.

Every connection's buffer_updated() hands the bytes to the core and pulls
events until the core has none; by then the core has copied what it keeps
(docs/design.md, "Input"), so the next connection can read into the same
memory. One buffer per thread, not per connection, is what keeps an idle
connection small. (A connection whose application paused reading keeps
the buffer it was reading and the thread gets another: see
python/wskit/_ext/input.c.) get_buffer hands out a memoryview because
asyncio's SSL transport slices the buffer it gets and writes into the slice.
"""

from __future__ import annotations

import threading
from typing import Any

from . import _core

SIZE = 256 * 1024

_local = threading.local()


def recv_buffer() -> Any:
    """This thread's _core.RecvBuffer."""
    try:
        return _local.buf
    except AttributeError:
        buf = _local.buf = _core.RecvBuffer(SIZE)
        return buf
