"""wss:// in the libuv driver against real TLS peers, with certificates the
openssl CLI makes for the session (conftest.Certs).

Our server (examples/c/echo_server --cert/--key/--client-ca) against
python3-websockets, node ws and openssl s_client; our client
(examples/c/client --ca/--insecure/--cert/--key) against a
python3-websockets wss server."""
import asyncio
import ssl
import subprocess

import pytest
import websockets

from conftest import NODE_ENV, OPEN_TIMEOUT, Proc, arun, node, py_wss_server, start_example

# ---- our server ----


def tls_server(server_factory, certs, *extra):
    return server_factory("echo_server", "--cert", certs.srv, "--key", certs.srv_key, *extra)


def client_ctx(certs, cert=None, version=None):
    ctx = ssl.create_default_context(cafile=certs.ca)
    ctx.set_alpn_protocols(["http/1.1"])
    if cert:
        ctx.load_cert_chain(getattr(certs, cert), getattr(certs, cert + "_key"))
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def causes(exc):
    """The text of an exception and everything it was raised from."""
    out = []
    while exc is not None:
        out.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " <- ".join(out)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_python_client_over_wss(server_factory, certs, version):
    srv = tls_server(server_factory, certs)
    big = bytes(range(256)) * (3 << 12)  # 3 MiB: many TLS records each way

    async def go():
        async with websockets.connect(f"wss://localhost:{srv.port}/", ssl=client_ctx(certs, version=version),
                                      max_size=None) as ws:
            so = ws.transport.get_extra_info("ssl_object")
            assert so.selected_alpn_protocol() == "http/1.1"
            assert so.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
            await ws.send("hello tls")
            assert await ws.recv() == "hello tls"
            await ws.send(big)
            assert await ws.recv() == big
            await asyncio.wait_for(await ws.ping(), 5)
    arun(go())
    srv.wait_line(lambda l: l.startswith("close code=1000 sent=1000 clean=1"))


def test_server_sends_its_certificate_chain(server_factory, run_client, certs):
    # the leaf comes from an intermediate CA that clients only know
    # through the chain the server sends
    srv = server_factory("echo_server", "--cert", certs.chain, "--key", certs.chain_key)

    async def go():
        async with websockets.connect(f"wss://localhost:{srv.port}/", ssl=client_ctx(certs)) as ws:
            await ws.send("chained")
            assert await ws.recv() == "chained"
    arun(go())
    c = run_client(f"wss://localhost:{srv.port}/", "--ca", certs.ca, *OPEN_TIMEOUT)
    c.wait_line(lambda l: l.startswith("open "))
    c.close_stdin()
    assert c.wait(5) == 0


def test_python_client_to_an_ip_literal(server_factory, certs):
    srv = tls_server(server_factory, certs)

    async def go():
        async with websockets.connect(f"wss://127.0.0.1:{srv.port}/", ssl=client_ctx(certs)) as ws:
            await ws.send("by address")
            assert await ws.recv() == "by address"
    arun(go())


NODE_WSS_CLIENT = r"""
const WebSocket = require('ws'), fs = require('fs');
const [url, ca] = process.argv.slice(1);
const ws = new WebSocket(url, {ca: fs.readFileSync(ca), ALPNProtocols: ['http/1.1'], perMessageDeflate: true,
                                maxPayload: 64 << 20});
const big = Buffer.alloc(5 << 20);
for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 0xff;
ws.on('open', () => {
  console.log('alpn ' + ws._socket.alpnProtocol + ' ' + ws._socket.getProtocol());
  ws.send('hello from node');
});
ws.on('message', (d, bin) => {
  if (!bin) { console.log('text ' + d); ws.send(big); return; }
  console.log('binary ' + d.length + ' ' + (Buffer.compare(d, big) === 0 ? 'same' : 'different'));
  ws.close(1000);
});
ws.on('close', (code) => { console.log('close ' + code); process.exit(0); });
ws.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });
setTimeout(() => { console.log('timeout'); process.exit(1); }, 20000);
"""


def test_node_ws_client_over_wss(server_factory, certs):
    srv = tls_server(server_factory, certs)
    out = node(NODE_WSS_CLIENT, f"wss://localhost:{srv.port}/", certs.ca).splitlines()
    assert out[0].startswith("alpn http/1.1 TLSv1.3"), out
    assert out[1:] == ["text hello from node", f"binary {5 << 20} same", "close 1000"], out


def test_node_ws_refuses_our_server_without_the_ca(server_factory, certs):
    srv = tls_server(server_factory, certs)
    script = NODE_WSS_CLIENT.replace("{ca: fs.readFileSync(ca), ", "{")
    p = subprocess.run(["node", "-e", script, f"wss://localhost:{srv.port}/", certs.ca], env=NODE_ENV,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "error unable to verify the first certificate" in p.stdout, p.stdout
    # node hangs up after its handshake, without an alert
    line = srv.wait_line(lambda l: l.startswith("close "))
    assert "opened=0" in line, line


def test_server_requires_a_client_certificate(server_factory, certs):
    srv = tls_server(server_factory, certs, "--client-ca", certs.ca)

    async def attempt(cert):
        try:
            async with websockets.connect(f"wss://localhost:{srv.port}/", ssl=client_ctx(certs, cert),
                                          open_timeout=5) as ws:
                await ws.send("with a certificate")
                return await ws.recv()
        except Exception as e:  # noqa: BLE001 - the chain is what we check
            return causes(e)

    # no certificate: TLS 1.3 clients finish first; the alert we send says why
    err = arun(attempt(None))
    assert "CERTIFICATE_REQUIRED" in err, err
    line = srv.wait_line(lambda l: l.startswith("close "))
    assert line.endswith("opened=0 error=TLS client certificate required but the client sent none"), line
    n = len(srv.lines)
    # a certificate from a CA the server does not trust
    err = arun(attempt("stranger"))
    assert "UNKNOWN_CA" in err or "unknown ca" in err, err
    line = srv.wait_line(lambda l: l.startswith("close "), start=n)
    assert "error=TLS client certificate verification failed: " in line, line
    assert "(certificate /CN=stranger)" in line, line
    # the right one
    assert arun(attempt("cli")) == "with a certificate"


def test_server_sends_session_tickets_without_waiting_to_write(server_factory, certs):
    """TLS 1.3 tickets come out of the handshake's last read: they must
    leave then, not with the server's first WebSocket bytes."""
    srv = tls_server(server_factory, certs)
    p = Proc(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-servername", "localhost",
              "-CAfile", certs.ca, "-tls1_3", "-msg"], stdin=True)
    try:
        p.wait_line(lambda l: "NewSessionTicket" in l and l.startswith("<<<"), timeout=5)
        assert any("Verify return code: 0 (ok)" in l for l in p.lines)
    finally:
        p.close_stdin()
        p.wait(5)
        p.stop()


def test_bad_certificate_files_are_named(certs):
    p = start_example("echo_server", 0, "--cert", certs.dir + "/missing.pem", "--key", certs.srv_key)
    assert p.wait(10) == 1
    err = p.stop()
    assert "cannot load server certificate" in err and "missing.pem" in err, err
    p = start_example("echo_server", 0, "--cert", certs.srv, "--key", certs.wrong_key)
    assert p.wait(10) == 1
    err = p.stop()
    assert "does not match certificate" in err, err


def test_plain_echo_server_still_takes_just_a_port(echo_server):
    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{echo_server.port}/") as ws:
            await ws.send("plain")
            assert await ws.recv() == "plain"
    arun(go())


# ---- our client against a python3-websockets wss server ----

@pytest.fixture
def peers():
    procs = []
    yield procs
    for p in procs:
        p.stop()


def test_client_verifies_the_server_with_a_ca_file(run_client, peers, certs):
    srv = py_wss_server(certs)
    peers.append(srv)
    c = run_client(f"wss://localhost:{srv.port}/chat", "--ca", certs.ca, *OPEN_TIMEOUT)
    c.wait_line(lambda l: l.startswith("open "))
    assert srv.wait_line(lambda l: l.startswith("sni ")) == "sni localhost"
    srv.wait_line(lambda l: l == "open alpn http/1.1 peer None")
    c.send("hello over tls")
    c.wait_line(lambda l: l == "text hello over tls")
    c.send("/binary 300000")
    c.wait_line(lambda l: l.startswith("binary len=300000 "))
    c.close_stdin()
    c.wait_line(lambda l: l.startswith("close code=1000 sent=1000 clean=1"))
    assert c.wait(5) == 0


def test_client_checks_an_ip_literal_against_the_ip_names(run_client, peers, certs):
    srv = py_wss_server(certs)
    peers.append(srv)
    c = run_client(f"wss://127.0.0.1:{srv.port}/", "--ca", certs.ca, *OPEN_TIMEOUT)
    c.wait_line(lambda l: l.startswith("open "))
    assert srv.wait_line(lambda l: l.startswith("sni ")) == "sni None"  # no SNI for addresses
    c.close_stdin()
    assert c.wait(5) == 0


@pytest.mark.parametrize("cert, ca, why", [
    ("wrong", True, "hostname mismatch (certificate /CN=wrong.example)"),
    ("self", False, "self-signed certificate (certificate /CN=localhost)"),
    ("self", True, "self-signed certificate (certificate /CN=localhost)"),
    ("srv", False, "unable to get local issuer certificate (certificate /CN=localhost)"),
])
def test_client_refuses_an_unverified_server_and_does_not_retry(run_client, peers, certs, cert, ca, why):
    srv = py_wss_server(certs, cert)
    peers.append(srv)
    args = ["--ca", certs.ca] if ca else []
    c = run_client(f"wss://localhost:{srv.port}/", *args, "--reconnect", *OPEN_TIMEOUT)
    line = c.wait_line(lambda l: l.startswith("close "))
    assert "opened=0" in line and "will_retry=0" in line and "err=ECRYPTO" in line, line
    assert line.endswith("error=TLS certificate verification failed for localhost: " + why), line
    assert c.wait(5) == 0  # the client gave up: nothing left on its loop
    assert not any(l.startswith("connecting 2") for l in c.lines), c.lines


@pytest.mark.parametrize("cert", ["wrong", "self"])
def test_client_insecure_skips_verification(run_client, peers, certs, cert):
    srv = py_wss_server(certs, cert)
    peers.append(srv)
    c = run_client(f"wss://localhost:{srv.port}/", "--insecure", *OPEN_TIMEOUT)
    c.wait_line(lambda l: l.startswith("open "))
    c.send("no questions asked")
    c.wait_line(lambda l: l == "text no questions asked")
    c.close_stdin()
    assert c.wait(5) == 0


@pytest.mark.parametrize("cert, why", [
    (None, "TLS server refused the client certificate: tlsv13 alert certificate required"),
    ("stranger", "TLS server refused the client certificate: tlsv1 alert unknown ca"),
])
def test_client_certificate_refused_with_an_alert(run_client, server_factory, certs, cert, why):
    # OpenSSL servers (ours here; nginx, haproxy...) say why in an alert
    srv = tls_server(server_factory, certs, "--client-ca", certs.ca)
    args = ["--cert", certs.stranger, "--key", certs.stranger_key] if cert else []
    c = run_client(f"wss://localhost:{srv.port}/", "--ca", certs.ca, *args, "--reconnect", *OPEN_TIMEOUT)
    line = c.wait_line(lambda l: l.startswith("close "))
    assert "opened=0" in line and "will_retry=0" in line and "err=ECRYPTO" in line, line
    assert line.endswith("error=" + why), line
    assert c.wait(5) == 0
    assert not any(l.startswith("connecting 2") for l in c.lines), c.lines


def test_client_certificate_missing_for_a_tls12_server(run_client, certs):
    # TLS 1.2 (openssl s_server here) refuses with a bare handshake_failure
    # alert, after its certificate request: final as well
    srv = Proc(["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", certs.srv, "-key", certs.srv_key,
                "-CAfile", certs.ca, "-Verify", "1", "-tls1_2", "-naccept", "1"], stdin=True)
    try:
        port = srv.wait_line(lambda l: l.startswith("ACCEPT ")).rsplit(":", 1)[1]
        c = run_client(f"wss://localhost:{port}/", "--ca", certs.ca, "--reconnect", *OPEN_TIMEOUT)
        line = c.wait_line(lambda l: l.startswith("close "))
        assert "will_retry=0" in line and line.endswith(
            "err=ECRYPTO error=TLS server refused the handshake after asking for a client certificate "
            "(none is configured): sslv3 alert handshake failure"), line
        assert c.wait(5) == 0
    finally:
        srv.close_stdin()
        srv.stop()


def test_client_certificate_missing_for_a_server_that_sends_no_alert(run_client, peers, certs):
    # Python's asyncio closes the socket on a failed handshake without
    # sending its alert: the error says what the server had asked for
    srv = py_wss_server(certs, client_ca=certs.ca)
    peers.append(srv)
    c = run_client(f"wss://localhost:{srv.port}/", "--ca", certs.ca, *OPEN_TIMEOUT)
    line = c.wait_line(lambda l: l.startswith("close "))
    assert "opened=0" in line and "err=EIO" in line, line
    assert line.endswith("error=connection lost during the opening handshake (the server asked for a "
                         "client certificate and none is configured)"), line
    assert c.wait(5) == 0


def test_client_certificate_accepted(run_client, peers, certs):
    srv = py_wss_server(certs, client_ca=certs.ca)
    peers.append(srv)
    c = run_client(f"wss://localhost:{srv.port}/", "--ca", certs.ca, "--cert", certs.cli, "--key",
                   certs.cli_key, *OPEN_TIMEOUT)
    c.wait_line(lambda l: l.startswith("open "))
    srv.wait_line(lambda l: l == "open alpn http/1.1 peer wskit-client")
    c.send("it is me")
    c.wait_line(lambda l: l == "text it is me")
    c.close_stdin()
    assert c.wait(5) == 0


def test_client_with_an_unreadable_ca_file_does_not_retry(run_client, certs):
    c = run_client("wss://localhost:9/", "--ca", certs.dir + "/nope.pem", "--reconnect")
    line = c.wait_line(lambda l: l.startswith("close "))
    assert "will_retry=0" in line and "error=TLS setup: cannot load CA file " in line, line
    assert c.wait(5) == 0


def test_our_client_and_our_server_over_wss(run_client, server_factory, certs):
    srv = tls_server(server_factory, certs)
    c = run_client(f"wss://localhost:{srv.port}/", "--ca", certs.ca, *OPEN_TIMEOUT)
    c.wait_line(lambda l: l.startswith("open ") and "deflate=1" in l)
    c.send(f"/binary {4 << 20}")
    c.wait_line(lambda l: l.startswith(f"binary len={4 << 20} "), timeout=20)
    c.send("/fragments 8 100000")
    c.wait_line(lambda l: l.startswith("binary len=800000 "), timeout=20)
    c.close_stdin()
    c.wait_line(lambda l: l.startswith("close code=1000 sent=1000 clean=1"))
    srv.wait_line(lambda l: l.startswith("close code=1000 sent=1000 clean=1"))


def test_our_client_sends_its_alert_to_our_server(run_client, server_factory, certs):
    # both ends say why, each once: the client's verification failure, and
    # the server reading the client's alert before the socket closed
    srv = tls_server(server_factory, certs)
    c = run_client(f"wss://localhost:{srv.port}/", "--reconnect", *OPEN_TIMEOUT)
    line = c.wait_line(lambda l: l.startswith("close "))
    assert line.endswith("will_retry=0 delay=-1 attempt=1 proxy_status=0 err=ECRYPTO error=TLS certificate "
                         "verification failed for localhost: unable to get local issuer certificate "
                         "(certificate /CN=localhost)"), line
    line = srv.wait_line(lambda l: l.startswith("close "))
    assert line.endswith("opened=0 error=TLS client refused the server certificate: tlsv1 alert unknown ca"), line
