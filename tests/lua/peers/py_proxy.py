"""A small HTTP CONNECT proxy for the Lua tests (loopback, bounded).

  py_proxy.py [--auth user:pass]
      prints "PORT <n>", then "CONNECT <host:port>" for each tunnel it opens;
      answers 407 when --auth is set and the request lacks those credentials
"""
import argparse
import asyncio
import base64


async def pipe(r, w):
    try:
        while True:
            data = await r.read(65536)
            if not data:
                break
            w.write(data)
            await w.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        w.close()


async def main(a):
    want = "Basic " + base64.b64encode(a.auth.encode()).decode() if a.auth else None

    async def handle(r, w):
        head = await r.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip()
                   for l in lines[1:] if ":" in l}
        if method != "CONNECT":
            w.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            w.close()
            return
        if want and headers.get("proxy-authorization") != want:
            w.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b"Proxy-Authenticate: Basic realm=\"t\"\r\nContent-Length: 0\r\n\r\n")
            await w.drain()
            w.close()
            return
        host, port = target.rsplit(":", 1)
        ur, uw = await asyncio.open_connection(host.strip("[]"), int(port))
        print("CONNECT", target, flush=True)
        w.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await w.drain()
        await asyncio.gather(pipe(r, uw), pipe(ur, w))

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    print("PORT", srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--auth")
    asyncio.run(main(p.parse_args()))
