"""docs/python.md keeps up with the code: every public name, every option
of connect() and serve() with its default, every public member."""

import inspect
import os
import re

import wskit

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "python.md")


def doc():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def test_every_public_name_is_in_the_guide():
    text = doc()
    missing = [n for n in wskit.__all__ if not re.search(r"`(wskit\.)?" + n + r"\b", text)]
    assert missing == []


def test_every_option_and_its_default_is_in_the_reference():
    text = doc()
    for func in (wskit.connect, wskit.serve):
        for name, p in inspect.signature(func).parameters.items():
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or name in ("uri", "handler",
                                                                        "host", "port"):
                continue
            assert f"`{name}`" in text, (func.__name__, name)


def test_every_public_member_is_in_the_reference():
    text = doc()
    internal = set(dir(wskit._core.Protocol)) | {"get_buffer", "buffer_updated"}
    for cls in (wskit.Connection, wskit.ServerConnection, wskit.Handler, wskit.Server,
                wskit.Methods):
        for name in dir(cls):
            if name.startswith("_") or (name in internal and name not in (
                    "subprotocol", "close_code", "close_reason", "compression", "transport")):
                continue
            assert re.search(r"(`|`await |\.)" + name + r"\b", text), (cls.__name__, name)
