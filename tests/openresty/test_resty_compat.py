"""The same lua-resty-websocket script (compat_app.lua) run with Debian's
lua-resty-websocket and with resty.wskit: only the require differs."""
import pytest
import websockets

from or_util import run
from or_raw import Raw


async def conversation(url):
    seen = []
    async with websockets.connect(url, compression=None) as ws:
        await ws.send("hello")
        seen.append(await ws.recv())
        await ws.send(b"\x01\x02\x03")
        seen.append(await ws.recv())
        pong = await ws.ping(b"hb")
        await pong
        seen.append("pong")
        await ws.send("x" * 60000)
        seen.append(len(await ws.recv()))
        await ws.close(1000, "bye")
        seen.append(ws.close_code)
    return seen


@pytest.mark.parametrize("impl", ["resty", "wskit"])
def test_same_server_script(nginx, impl):
    assert run(conversation(nginx.url("/compat/" + impl))) == [
        "hello", b"\x01\x02\x03", "pong", 60000, 1000]


def test_server_script_gives_the_same_results(nginx):
    a = run(conversation(nginx.url("/compat/resty")))
    b = run(conversation(nginx.url("/compat/wskit")))
    assert a == b


def test_same_client_script(nginx, peer):
    out = {impl: nginx.get("/compat_client/%s?port=%d" % (impl, peer.port)).strip()
           for impl in ("resty", "wskit")}
    assert out["wskit"] == "text:hello binary:3 pong:hb close:1000"
    assert out["resty"] == out["wskit"]


@pytest.mark.parametrize("impl", ["resty", "wskit"])
def test_refused_handshake_then_exit_444(nginx, impl):
    # the README pattern: `if not wb then return ngx.exit(444) end`
    r = Raw(nginx.port)
    status = None
    try:
        status, headers = r.request("/compat/" + impl, version="12")
    except (IndexError, ConnectionResetError):
        pass  # lua-resty-websocket: 444 closes without an answer
    r.close()
    if impl == "wskit":
        assert status == 426  # answered properly before the handler's exit
    else:
        assert status is None
