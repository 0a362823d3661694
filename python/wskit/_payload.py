"""How a value becomes a channel message's payload, in one place: the
server's publish (hub.py) and the client's publish (channels_client.py)
must agree, e.g. on refusing NaN (not JSON, other peers cannot read it)."""

from __future__ import annotations

import json
from typing import Any, Tuple, Union

__all__ = ["encode_payload"]


def encode_payload(data: Any) -> Tuple[str, Union[str, bytes]]:
    """(kind, payload): str is text ("t"), bytes-like is binary ("b"),
    anything else is JSON ("j", its compact text; ValueError for NaN or
    infinities, TypeError for what JSON cannot hold)."""
    if isinstance(data, str):
        return "t", data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return "b", bytes(data)
    return "j", json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
