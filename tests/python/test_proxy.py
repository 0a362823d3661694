"""connect() through an HTTP CONNECT proxy: by option and by environment
(https_proxy for wss://, http_proxy for ws://, no_proxy), TLS with the
target's name over the tunnel, credentials, and refusals. The proxy is a
small asyncio one written here, on the test's own loop."""

import asyncio
import base64
import contextlib
import ssl

import pytest

import wskit
from certs import certs  # noqa: F401  (fixture)
from helpers import port_of, wskit_echo, wskit_server

pytestmark = pytest.mark.timeout(30)

ENV = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY")


@pytest.fixture
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


class ConnectProxy:
    """Tunnels CONNECT requests and counts them. ``mode``: "ok"; a status
    (403, 407, 502) to refuse with; "auth" wants Basic user:pw (407
    otherwise); "hangup" closes without answering; "extra" answers 200 and,
    in the same write, a 403 response as if it came from the server."""

    def __init__(self, mode="ok"):
        self.mode = mode
        self.tunnels = 0
        self.requests = []   # request lines
        self.auth = []       # Proxy-Authorization values (None when absent)
        self._server = None
        self._tasks = set()

    async def __aenter__(self):
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{port_of(self._server)}"
        return self

    async def __aexit__(self, *exc):
        self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

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
    def _answer(status, reason):
        extra = b'Proxy-Authenticate: Basic realm="wskit"\r\n' if status == 407 else b""
        body = f"{status} {reason}\n".encode()
        return (f"HTTP/1.1 {status} {reason}\r\n".encode() + extra
                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    async def _handle(self, r, w):
        self._tasks.add(asyncio.current_task())
        try:
            head = (await r.readuntil(b"\r\n\r\n")).decode("latin-1")
            line, *headers = head.split("\r\n")
            self.requests.append(line)
            fields = dict((h.split(":", 1)[0].lower(), h.split(":", 1)[1].strip())
                          for h in headers if ":" in h)
            self.auth.append(fields.get("proxy-authorization"))
            mode = self.mode
            if mode == "hangup":
                w.close()
                return
            if mode == "auth":
                good = "Basic " + base64.b64encode(b"user:pw").decode()
                mode = "ok" if fields.get("proxy-authorization") == good else 407
            if mode == "extra":
                w.write(b"HTTP/1.1 200 Connection established\r\n\r\n"
                        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                await w.drain()
                await r.read()
                w.close()
                return
            if mode != "ok":
                w.write(self._answer(mode, {403: "Forbidden", 407: "Proxy Authentication Required",
                                            502: "Bad Gateway"}[mode]))
                await w.drain()
                w.close()
                return
            host, _, port = line.split(" ")[1].rpartition(":")
            tr, tw = await asyncio.open_connection(host.strip("[]"), int(port))
            self.tunnels += 1
            w.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(self._pipe(r, tw), self._pipe(tr, w))
        except (asyncio.IncompleteReadError, OSError):
            w.close()
        finally:
            self._tasks.discard(asyncio.current_task())


@contextlib.asynccontextmanager
async def wss_echo(certs):
    async with wskit.serve(wskit_echo, "127.0.0.1", 0, ssl=certs.server_context()) as server:
        yield port_of(server)


async def test_explicit_proxy_for_ws(clean_env):
    async with ConnectProxy() as proxy, wskit_server() as (server, url):
        port = port_of(server)
        async with wskit.connect(f"ws://localhost:{port}/path?q=1", proxy=proxy.url) as ws:
            await ws.send("through the tunnel")
            assert await ws.recv() == "through the tunnel"
            assert ws.handshake_request.path == "/path?q=1"
        assert proxy.tunnels == 1
        assert proxy.requests == [f"CONNECT localhost:{port} HTTP/1.1"]
        assert proxy.auth == [None]


async def test_https_proxy_from_the_environment_for_wss(clean_env, certs):
    async with ConnectProxy() as proxy, wss_echo(certs) as port:
        clean_env.setenv("https_proxy", proxy.url)
        clean_env.setenv("http_proxy", "http://127.0.0.1:1")  # only for ws://
        async with wskit.connect(f"wss://localhost:{port}/", ssl=certs.client_context()) as ws:
            # TLS runs end to end over the tunnel, checking the target's name
            assert ws.transport.get_extra_info("ssl_object").server_hostname == "localhost"
            await ws.send("secret")
            assert await ws.recv() == "secret"
        assert proxy.tunnels == 1
        # the name is still checked: the certificate is not for wrong.example
        with pytest.raises(ssl.SSLCertVerificationError):
            await wskit.connect(f"wss://localhost:{port}/", ssl=certs.client_context(),
                                server_hostname="wrong.example")
        assert proxy.tunnels == 2


async def test_http_proxy_from_the_environment_for_ws(clean_env):
    async with ConnectProxy() as proxy, wskit_server() as (server, url):
        clean_env.setenv("http_proxy", proxy.url)
        clean_env.setenv("HTTPS_PROXY", "http://127.0.0.1:1")  # only for wss://
        async with wskit.connect(url) as ws:
            await ws.send("env")
            assert await ws.recv() == "env"
        assert proxy.tunnels == 1
        # HTTP_PROXY (upper case) is ignored, as curl does
        clean_env.delenv("http_proxy")
        clean_env.setenv("HTTP_PROXY", proxy.url)
        async with wskit.connect(url) as ws:
            await ws.send("direct")
            assert await ws.recv() == "direct"
        assert proxy.tunnels == 1


async def test_no_proxy_and_proxy_none_go_direct(clean_env):
    async with ConnectProxy() as proxy, wskit_server() as (server, url):
        clean_env.setenv("http_proxy", proxy.url)
        clean_env.setenv("no_proxy", "example.com, 127.0.0.0/8")
        async with wskit.connect(url) as ws:
            await ws.send("excluded")
            assert await ws.recv() == "excluded"
        clean_env.delenv("no_proxy")
        async with wskit.connect(url, proxy=None) as ws:
            await ws.send("off")
            assert await ws.recv() == "off"
        assert proxy.tunnels == 0
        # an explicit proxy ignores no_proxy
        clean_env.setenv("no_proxy", "*")
        async with wskit.connect(url, proxy=proxy.url) as ws:
            await ws.send("explicit")
            assert await ws.recv() == "explicit"
        assert proxy.tunnels == 1


async def test_proxy_refusals_name_the_status(clean_env):
    async with wskit_server() as (server, url):
        for status in (407, 403, 502):
            async with ConnectProxy(status) as proxy:
                with pytest.raises(wskit.InvalidProxyStatus) as info:
                    await wskit.connect(url, proxy=proxy.url)
                assert isinstance(info.value, wskit.InvalidStatus)
                assert info.value.response.status == status
                assert f"proxy refused the tunnel: HTTP {status}" in str(info.value)
                if status == 407:
                    assert "Basic" in info.value.response.headers["Proxy-Authenticate"]


async def test_proxy_credentials_from_the_url(clean_env):
    async with ConnectProxy("auth") as proxy, wskit_server() as (server, url):
        with pytest.raises(wskit.InvalidProxyStatus):
            await wskit.connect(url, proxy=proxy.url)
        authed = proxy.url.replace("http://", "http://user:pw@")
        async with wskit.connect(url, proxy=authed) as ws:
            await ws.send("authorized")
            assert await ws.recv() == "authorized"
        assert proxy.auth == [None, "Basic " + base64.b64encode(b"user:pw").decode()]
        assert proxy.tunnels == 1


async def test_proxy_that_hangs_up_or_is_not_there(clean_env):
    async with ConnectProxy("hangup") as proxy, wskit_server() as (server, url):
        with pytest.raises(wskit.InvalidHandshake) as info:
            await wskit.connect(url, proxy=proxy.url)
        assert "closed the connection before answering CONNECT" in str(info.value)
        assert isinstance(info.value.__cause__, EOFError)
        dead = proxy.url  # a port nobody listens on once the proxy is gone
    with pytest.raises(OSError):
        await wskit.connect("ws://localhost:9/", proxy=dead, open_timeout=5)


async def test_bytes_after_the_proxy_answer_belong_to_the_connection(clean_env):
    async with ConnectProxy("extra") as proxy:
        # the "server" behind the tunnel answers the upgrade with 403
        with pytest.raises(wskit.InvalidStatus) as info:
            await wskit.connect("ws://localhost:9/", proxy=proxy.url)
        assert not isinstance(info.value, wskit.InvalidProxyStatus)
        assert info.value.response.status == 403


async def test_invalid_proxy_urls():
    with pytest.raises(ValueError):
        wskit.connect("ws://localhost/", proxy="https://proxy.example:3128")
    with pytest.raises(ValueError):
        wskit.connect("ws://localhost/", proxy="http://proxy.example:notaport")
    with pytest.raises(TypeError):
        wskit.connect("ws://localhost/", proxy=3128)


async def test_reconnecting_client_goes_through_the_proxy_each_time(clean_env):
    async with ConnectProxy() as proxy, wskit_server() as (server, url):
        rounds = 0
        async for ws in wskit.connect(url, proxy=proxy.url,
                                      backoff=wskit.Backoff(initial_delay=0, min_delay=0.01)):
            rounds += 1
            await ws.send(str(rounds))
            assert await ws.recv() == str(rounds)
            if rounds == 3:
                break
            await ws.close()
        assert proxy.tunnels == 3
