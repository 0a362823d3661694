"""python3-websockets peer for the Lua tests (loopback, bounded).

  py_peer.py server [--port P] [--mode echo|headers|big] [--size N]
                    [--subprotocols a,b] [--reject STATUS] [--max-size N]
                    [--cert PEM --key PEM]
      prints "PORT <n>" once listening, then serves until killed
  py_peer.py client URL [--count N] [--size N] [--binary]
                    [--subprotocol P] [--expect-close CODE] [--compress]
                    [--cafile PEM]
      echo round trips; prints "OK ..." and exits 0, or "FAIL ..." and 1
  py_peer.py get URL...
      plain HTTP GETs; prints "<url> <status> <body>" for each
"""
import argparse
import asyncio
import http
import json
import ssl
import sys

import websockets


async def serve(a):
    async def handler(ws, path=None):
        try:
            if a.mode == "headers":
                await ws.send(json.dumps({k.lower(): v for k, v in ws.request_headers.raw_items()}))
            if a.mode == "big":
                await ws.send("x" * a.size)
            async for msg in ws:
                await ws.send(msg)
        except websockets.ConnectionClosed:
            pass

    async def process_request(path, headers):
        if a.reject:
            return http.HTTPStatus(a.reject), [], b"refused\n"
        return None

    subs = a.subprotocols.split(",") if a.subprotocols else None
    ctx = None
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
    async with websockets.serve(handler, "127.0.0.1", a.port, subprotocols=subs,
                                process_request=process_request, ssl=ctx,
                                max_size=a.max_size or 2**20) as srv:
        port = srv.sockets[0].getsockname()[1]
        print("PORT", port, flush=True)
        await asyncio.Future()


async def client(a):
    subs = [a.subprotocol] if a.subprotocol else None
    comp = "deflate" if a.compress else None
    ctx = None
    if a.cafile:
        ctx = ssl.create_default_context(cafile=a.cafile)
    async with websockets.connect(a.url, subprotocols=subs, compression=comp, ssl=ctx,
                                  max_size=2**24) as ws:
        if a.expect_close:
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed:
                pass
            code = ws.close_code
            print(("OK" if code == a.expect_close else "FAIL") + " close=%s" % code, flush=True)
            return 0 if code == a.expect_close else 1
        for i in range(a.count):
            if a.binary:
                msg = bytes((i + k) % 256 for k in range(a.size or 8))
            else:
                msg = ("message %d " % i) + "y" * a.size
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), 10)
            if got != msg:
                print("FAIL mismatch at", i, flush=True)
                return 1
        ext = ",".join(str(e.name) for e in ws.extensions)
        print("OK count=%d subprotocol=%s extensions=%s" % (a.count, ws.subprotocol, ext), flush=True)
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role")
    p.add_argument("url", nargs="?")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mode", default="echo")
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--binary", action="store_true")
    p.add_argument("--compress", action="store_true")
    p.add_argument("--subprotocols")
    p.add_argument("--subprotocol")
    p.add_argument("--reject", type=int)
    p.add_argument("--max-size", type=int)
    p.add_argument("--expect-close", type=int)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--cafile")
    a, rest = p.parse_known_args()
    if a.role == "get":
        import urllib.error
        import urllib.request
        for url in [a.url] + rest:
            try:
                r = urllib.request.urlopen(url, timeout=5)
                print(url, r.status, r.read().decode().strip(), flush=True)
            except urllib.error.HTTPError as e:
                print(url, e.code, flush=True)
        return 0
    if a.role == "server":
        asyncio.run(serve(a))
        return 0
    try:
        return asyncio.run(client(a))
    except Exception as e:  # the test reads the reason
        print("FAIL", type(e).__name__, e, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
