"""resty.wskit.server talked to by our own Python client (the package in
.venv, built by `make venv`), as a user's script would: text, binary,
compression, 1 MiB fragmented messages both ways, and the close code."""
import os
import subprocess
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
VENV_PY = os.path.join(os.path.dirname(os.path.dirname(HERE)), ".venv", "bin", "python")

SCRIPT = textwrap.dedent("""
    import asyncio, sys, wskit
    async def main(url):
        async with wskit.connect(url, proxy=None) as ws:
            await ws.send("h\\u00e9llo")
            assert await ws.recv() == "h\\u00e9llo"
            await ws.send(b"\\x00\\x01\\xff")
            assert await ws.recv() == b"\\x00\\x01\\xff"
            big = bytes(range(256)) * 4096                  # 1 MiB
            await ws.send([big[i:i + 65536] for i in range(0, len(big), 65536)])
            assert await ws.recv() == big
            text = "compress me " * 50000
            await ws.send(text)
            assert await ws.recv() == text
            await ws.close(4000, "done")
        assert ws.close_code == 4000, ws.close_code
        print("ok")
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), 30))
""")


def test_our_python_client_against_resty_server(nginx):
    assert os.access(VENV_PY, os.X_OK), "run `make venv` first (make test-openresty does)"
    out = subprocess.run([VENV_PY, "-c", SCRIPT, nginx.url("/ws/echo")], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "no_proxy": "*"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
