"""wss://: our client verifies servers by default (name and chain) and
says clearly why it refuses one; our server with an SSLContext against
our client, python3-websockets and aiohttp. Certificates are made by the
openssl CLI for this module (certs.py)."""

import ssl

import pytest

import wskit
from certs import certs  # noqa: F401  (fixture)
from helpers import port_of, wskit_echo

pytestmark = pytest.mark.timeout(30)


class wss_server:
    """Our echo server over TLS with one of the certificates."""

    def __init__(self, certs, name="srv", **kwargs):
        self.serve = wskit.serve(wskit_echo, "127.0.0.1", 0, ssl=certs.server_context(name),
                                 **kwargs)

    async def __aenter__(self):
        self.server = await self.serve.__aenter__()
        return port_of(self.server)

    async def __aexit__(self, *exc):
        await self.serve.__aexit__(*exc)


async def test_our_client_and_server_over_wss(certs):
    async with wss_server(certs) as port:
        for host in ("localhost", "127.0.0.1"):
            async with wskit.connect(f"wss://{host}:{port}/", ssl=certs.client_context()) as ws:
                assert ws.transport.get_extra_info("ssl_object") is not None
                for message in ("secret", b"\x00" * 100000, "é" * 70000):
                    await ws.send(message)
                    assert await ws.recv() == message


async def test_default_context_verifies_against_the_system_cas(certs):
    async with wss_server(certs) as port:
        for ssl_arg in (None, True):
            with pytest.raises(ssl.SSLCertVerificationError) as info:
                await wskit.connect(f"wss://localhost:{port}/", ssl=ssl_arg)
            assert "certificate verify failed" in str(info.value)


async def test_default_context_trusts_what_openssl_is_told_to(certs, monkeypatch):
    # ssl.create_default_context() reads SSL_CERT_FILE, as OpenSSL does
    monkeypatch.setenv("SSL_CERT_FILE", certs.ca)
    async with wss_server(certs) as port:
        async with wskit.connect(f"wss://localhost:{port}/") as ws:
            await ws.send("trusted")
            assert await ws.recv() == "trusted"


async def test_wrong_hostname_is_refused(certs):
    async with wss_server(certs, "wrong") as port:
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            await wskit.connect(f"wss://localhost:{port}/", ssl=certs.client_context())
        assert "Hostname mismatch" in str(info.value) or "match" in str(info.value)
        assert info.value.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH
        # server_hostname checks another name than the URI's
        async with wskit.connect(f"wss://localhost:{port}/", ssl=certs.client_context(),
                                 server_hostname="wrong.example") as ws:
            await ws.send("by name")
            assert await ws.recv() == "by name"
            assert ws.handshake_request.headers["Host"] == f"localhost:{port}"


async def test_self_signed_certificate_is_refused(certs):
    async with wss_server(certs, "self") as port:
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            await wskit.connect(f"wss://localhost:{port}/", ssl=certs.client_context())
        assert info.value.verify_code == 18  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
        assert "self-signed" in str(info.value) or "self signed" in str(info.value)
        # a context that trusts it explicitly is the user's choice
        ctx = ssl.create_default_context(cafile=certs.self)
        async with wskit.connect(f"wss://localhost:{port}/", ssl=ctx) as ws:
            await ws.send("pinned")
            assert await ws.recv() == "pinned"


async def test_verification_failures_are_not_retried(certs):
    async with wss_server(certs, "self") as port:
        attempts = 0
        with pytest.raises(ssl.SSLCertVerificationError):
            async for ws in wskit.connect(f"wss://localhost:{port}/",
                                          ssl=certs.client_context(),
                                          backoff=wskit.Backoff(initial_delay=0, min_delay=0)):
                attempts += 1
        assert attempts == 0


async def test_plain_client_to_a_tls_server_fails_the_handshake(certs):
    async with wss_server(certs) as port:
        with pytest.raises((wskit.InvalidHandshake, ConnectionError)):
            await wskit.connect(f"ws://localhost:{port}/", open_timeout=5)
    with pytest.raises(ValueError):
        wskit.connect("ws://localhost/", ssl=certs.client_context())


async def test_websockets_client_against_our_wss_server(certs):
    import websockets

    async with wss_server(certs) as port:
        async with websockets.connect(f"wss://localhost:{port}/",
                                      ssl=certs.client_context()) as ws:
            for message in ("over tls", b"\x01" * 300000):
                await ws.send(message)
                assert await ws.recv() == message


async def test_aiohttp_client_against_our_wss_server(certs):
    import aiohttp

    async with wss_server(certs) as port:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"wss://localhost:{port}/",
                                          ssl=certs.client_context()) as ws:
                await ws.send_str("aiohttp over tls")
                assert (await ws.receive()).data == "aiohttp over tls"
                await ws.send_bytes(b"\x02" * 70000)
                assert (await ws.receive()).data == b"\x02" * 70000
