"""Our C client (examples/c/client) through an HTTP CONNECT proxy written
here (asyncio, in a thread, on a port the OS picked), by option and by
environment, ws and wss, and what it does when the proxy refuses. Also:
redirects are never followed."""
import asyncio
import base64
import socket
import ssl
import sys
import threading

import pytest

from conftest import OPEN_TIMEOUT, py_wss_server


class ConnectProxy:
    """An HTTP CONNECT proxy. `mode`: "ok" tunnels; 403/407/502 answer that
    status; "auth" wants Basic user:pw (407 otherwise); "hangup" closes
    without answering; "silent" never answers; "split" sends its answer in pieces; "extra" answers
    200 and, in the same write, bytes that the client must take as the
    server's (a 403 response), without connecting anywhere."""

    def __init__(self, mode="ok"):
        self.mode = mode
        self.requests = []  # request lines, e.g. "CONNECT host:port HTTP/1.1"
        self.auth = []      # Proxy-Authorization values (None when absent)
        self.tunnels = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)
        self.url = f"http://127.0.0.1:{self.port}"

    def _run(self):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        server.close()
        tasks = asyncio.all_tasks(self.loop)
        for t in tasks:
            t.cancel()
        self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.close()

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @staticmethod
    async def _pipe(r, w):
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    break
                w.write(data)
                await w.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            w.close()

    @staticmethod
    async def _answer(w, status, reason):
        body = f"{status} {reason}\n".encode()
        w.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n".encode()
                + (b"Proxy-Authenticate: Basic realm=\"wskit\"\r\n" if status == 407 else b"")
                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await w.drain()
        w.close()

    async def _handle(self, r, w):
        try:
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
            w.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        self.requests.append(lines[0])
        headers = dict((k.strip().lower(), v.strip()) for k, v in
                       (l.split(":", 1) for l in lines[1:] if ":" in l))
        self.auth.append(headers.get("proxy-authorization"))
        mode = self.mode
        if mode == "auth":
            ok = headers.get("proxy-authorization") == "Basic " + base64.b64encode(b"user:pw").decode()
            mode = "ok" if ok else 407
        if mode in (403, 407, 502):
            reason = {403: "Forbidden", 407: "Proxy Authentication Required", 502: "Bad Gateway"}[mode]
            await self._answer(w, mode, reason)
            return
        if mode == "hangup":
            w.close()
            return
        if mode == "silent":
            await r.read()  # until the client gives up
            w.close()
            return
        if mode == "extra":
            w.write(b"HTTP/1.1 200 Connection established\r\n\r\n"
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            await w.drain()
            await r.read()  # until the client goes
            w.close()
            return
        method, target, _ = lines[0].split(" ")
        host, port = target.rsplit(":", 1)
        try:
            ur, uw = await asyncio.open_connection(host.strip("[]"), int(port))
        except OSError:
            await self._answer(w, 502, "Bad Gateway")
            return
        self.tunnels += 1
        answer = b"HTTP/1.1 200 Connection established\r\nVia: 1.1 test-proxy\r\n\r\n"
        if mode == "split":  # the client must parse the answer incrementally
            for piece in (answer[:5], answer[5:30], answer[30:-1], answer[-1:]):
                w.write(piece)
                await w.drain()
                await asyncio.sleep(0.05)
        else:
            w.write(answer)
            await w.drain()
        await asyncio.gather(self._pipe(r, uw), self._pipe(ur, w))


@pytest.fixture
def proxy():
    made = []

    def make(mode="ok"):
        p = ConnectProxy(mode)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()


@pytest.fixture
def peers():
    procs = []
    yield procs
    for p in procs:
        p.stop()


def echo_round(c, text="through the tunnel"):
    c.wait_line(lambda l: l.startswith("open "))
    c.send(text)
    c.wait_line(lambda l: l == "text " + text)
    c.send("/binary 200000")
    c.wait_line(lambda l: l.startswith("binary len=200000 "))
    c.close_stdin()
    c.wait_line(lambda l: l.startswith("close code=1000 sent=1000 clean=1"))
    assert c.wait(5) == 0


@pytest.mark.parametrize("mode", ["ok", "split"])
def test_ws_through_the_proxy_option(run_client, echo_server, proxy, mode):
    px = proxy(mode)
    c = run_client(f"ws://127.0.0.1:{echo_server.port}/", "--proxy", px.url, *OPEN_TIMEOUT)
    echo_round(c)
    assert px.requests == [f"CONNECT 127.0.0.1:{echo_server.port} HTTP/1.1"]
    assert px.auth == [None] and px.tunnels == 1


def test_wss_through_the_proxy_option_to_python(run_client, peers, certs, proxy):
    srv = py_wss_server(certs)
    peers.append(srv)
    px = proxy()
    c = run_client(f"wss://localhost:{srv.port}/", "--ca", certs.ca, "--proxy", px.url, *OPEN_TIMEOUT)
    echo_round(c)
    # TLS is end to end: the server saw our SNI and ALPN through the tunnel
    assert srv.wait_line(lambda l: l.startswith("sni ")) == "sni localhost"
    srv.wait_line(lambda l: l.startswith("open alpn http/1.1"))
    assert px.requests == [f"CONNECT localhost:{srv.port} HTTP/1.1"] and px.tunnels == 1


@pytest.mark.parametrize("var", ["https_proxy", "HTTPS_PROXY"])
def test_wss_through_https_proxy_from_the_environment(run_client, server_factory, certs, proxy, var):
    srv = server_factory("echo_server", "--cert", certs.srv, "--key", certs.srv_key)
    px = proxy()
    c = run_client(f"wss://localhost:{srv.port}/", "--ca", certs.ca, *OPEN_TIMEOUT,
                   env={var: f"127.0.0.1:{px.port}"})  # no scheme means http://, as in curl
    echo_round(c)
    assert px.tunnels == 1


def test_ws_uses_http_proxy_and_not_https_proxy(run_client, echo_server, proxy):
    px, other = proxy(), proxy(403)
    c = run_client(f"ws://127.0.0.1:{echo_server.port}/", *OPEN_TIMEOUT,
                   env={"http_proxy": px.url, "https_proxy": other.url})
    echo_round(c)
    assert px.tunnels == 1 and other.requests == []


def test_upper_case_http_proxy_is_ignored(run_client, echo_server, proxy):
    # as curl: under CGI, HTTP_PROXY comes from a request's Proxy header
    px = proxy(403)
    c = run_client(f"ws://127.0.0.1:{echo_server.port}/", *OPEN_TIMEOUT, env={"HTTP_PROXY": px.url})
    echo_round(c)
    assert px.requests == []


@pytest.mark.parametrize("no_proxy", [("no_proxy", "localhost"), ("NO_PROXY", ".example.com, localhost:*"),
                                      ("no_proxy", "*")])
def test_no_proxy_bypasses_the_proxy(run_client, server_factory, certs, proxy, no_proxy):
    srv = server_factory("echo_server", "--cert", certs.srv, "--key", certs.srv_key)
    px = proxy(403)
    name, value = no_proxy
    if value.endswith(":*"):  # a port-specific entry for this very port
        value = value.replace("*", str(srv.port))
    c = run_client(f"wss://localhost:{srv.port}/", "--ca", certs.ca, *OPEN_TIMEOUT,
                   env={"https_proxy": px.url, name: value})
    echo_round(c)
    assert px.requests == []


def test_an_empty_proxy_option_ignores_the_environment(run_client, echo_server, proxy):
    px = proxy(403)
    c = run_client(f"ws://127.0.0.1:{echo_server.port}/", "--proxy", "", *OPEN_TIMEOUT,
                   env={"http_proxy": px.url})
    echo_round(c)
    assert px.requests == []


def test_proxy_credentials_from_the_url(run_client, echo_server, proxy):
    px = proxy("auth")
    url = f"http://user:pw@127.0.0.1:{px.port}"
    c = run_client(f"ws://127.0.0.1:{echo_server.port}/", "--proxy", url, *OPEN_TIMEOUT)
    echo_round(c)
    assert px.auth == ["Basic " + base64.b64encode(b"user:pw").decode()]


@pytest.mark.parametrize("mode, status, reason, retry", [
    ("auth", 407, "Proxy Authentication Required", 0),
    (403, 403, "Forbidden", 0),
    (502, 502, "Bad Gateway", 1),
])
def test_a_refused_connect_reports_the_proxy_status(run_client, proxy, mode, status, reason, retry):
    px = proxy(mode)
    c = run_client("wss://localhost:9/", "--proxy", px.url, "--reconnect", *OPEN_TIMEOUT)
    line = c.wait_line(lambda l: l.startswith("close "))
    assert f"opened=0 status=0 will_retry={retry} " in line, line
    assert f"proxy_status={status} err=EHANDSHAKE error=proxy 127.0.0.1:{px.port} refused CONNECT to " \
           f"localhost:9: {status} {reason}" in line, line
    if retry:  # 5xx: the proxy may reach the server later
        c.wait_line(lambda l: l.startswith("connecting 2"))
        c.close_stdin()
        c.p.terminate()
    else:
        assert c.wait(5) == 0
        assert px.requests == ["CONNECT localhost:9 HTTP/1.1"]


def test_a_proxy_that_hangs_up_before_answering(run_client, proxy):
    px = proxy("hangup")
    c = run_client("ws://127.0.0.1:9/", "--proxy", px.url, *OPEN_TIMEOUT)
    line = c.wait_line(lambda l: l.startswith("close "))
    assert line.endswith(f"err=EIO error=proxy 127.0.0.1:{px.port} closed the connection before "
                         "answering CONNECT"), line


def test_the_open_timeout_covers_the_proxy(run_client, proxy):
    px = proxy("silent")
    c = run_client("ws://127.0.0.1:9/", "--proxy", px.url, "--open-timeout", 300)
    line = c.wait_line(lambda l: l.startswith("close "))
    assert "opened=0" in line and "err=ETIMEDOUT" in line, line
    assert c.wait(5) == 0


def test_an_unreachable_proxy_is_named(run_client):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    port = s.getsockname()[1]
    try:
        c = run_client("ws://127.0.0.1:9/", "--proxy", f"http://127.0.0.1:{port}", *OPEN_TIMEOUT)
        line = c.wait_line(lambda l: l.startswith("close "))
        assert line.endswith(f"error=connect proxy 127.0.0.1:{port}: connection refused"), line
    finally:
        s.close()


def test_bytes_after_the_proxy_answer_belong_to_the_tunnel(run_client, proxy):
    # the 403 after the proxy's 200 (same write) is the WebSocket server's
    px = proxy("extra")
    c = run_client("ws://127.0.0.1:9/", "--proxy", px.url, "--reconnect", *OPEN_TIMEOUT)
    line = c.wait_line(lambda l: l.startswith("close "))
    assert "opened=0 status=403 will_retry=0" in line and "proxy_status=0 err=EHANDSHAKE" in line, line


def test_a_malformed_proxy_url_is_refused_at_once(run_client):
    c = run_client("ws://127.0.0.1:9/", "--proxy", "https://127.0.0.1:3128")
    assert c.wait(5) == 1
    assert "(in the URL or the proxy URL)" in c.stop()
    c = run_client("ws://127.0.0.1:9/", env={"http_proxy": "socks5://127.0.0.1:1080"})
    assert c.wait(5) == 1


# ---- redirects are not followed ----

def redirecting_server(location, tls_ctx=None):
    """Answer the first request with a 302 to `location`; returns the port."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    ls.settimeout(10)

    def run():
        try:
            s, _ = ls.accept()
            if tls_ctx:
                s = tls_ctx.wrap_socket(s, server_side=True)
            s.settimeout(5)
            req = b""
            while b"\r\n\r\n" not in req:
                req += s.recv(4096)
            s.sendall(b"HTTP/1.1 302 Found\r\nLocation: " + location.encode() +
                      b"\r\nContent-Length: 0\r\n\r\n")
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
            s.close()
        except OSError:
            pass
        finally:
            ls.close()

    threading.Thread(target=run, daemon=True).start()
    return ls.getsockname()[1]


@pytest.mark.parametrize("secure", [False, True])
def test_redirects_are_reported_not_followed(run_client, certs, secure):
    target = socket.socket()  # where the redirect points: must see no connection
    target.bind(("127.0.0.1", 0))
    target.listen(4)
    target.setblocking(False)
    try:
        tport = target.getsockname()[1]
        ctx = None
        if secure:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certs.srv, certs.srv_key)
        # from wss, a redirect to ws:// is a downgrade: doubly not followed
        port = redirecting_server(f"ws://127.0.0.1:{tport}/", ctx)
        url = f"{'wss' if secure else 'ws'}://localhost:{port}/"
        c = run_client(url, "--ca", certs.ca, "--reconnect", *OPEN_TIMEOUT)
        line = c.wait_line(lambda l: l.startswith("close "))
        assert "opened=0 status=302 will_retry=0" in line and "err=EHANDSHAKE" in line, line
        assert c.wait(5) == 0
        with pytest.raises(BlockingIOError):
            target.accept()
    finally:
        target.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
