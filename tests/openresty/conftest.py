"""Fixtures for the OpenResty driver tests: certificates made at test time,
the Python peer, and a real nginx (ngx_http_lua) with its own config in a
temporary prefix on a loopback port. Every test is bounded: a SIGALRM
guard per test, timeouts on every socket and wait."""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from or_peer import Peer  # noqa: E402

TEST_SECONDS = 40


@pytest.fixture(autouse=True)
def _bounded():
    def on_alarm(signum, frame):
        raise TimeoutError("test took longer than %d s" % TEST_SECONDS)
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _make_ca_and_cert(d, name):
    ca_key, ca_crt = os.path.join(d, name + "-ca.key"), os.path.join(d, name + "-ca.crt")
    key, csr, crt = (os.path.join(d, name + s) for s in (".key", ".csr", ".crt"))
    ext = os.path.join(d, name + ".ext")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=wskit test CA " + name, "-keyout", ca_key, "-out", ca_crt)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", key, "-out", csr)
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
             "-days", "2", "-extfile", ext, "-out", crt)
    return ca_crt, crt, key


@pytest.fixture(scope="session")
def certs():
    d = tempfile.mkdtemp(prefix="wskit-or-certs-")
    good = _make_ca_and_cert(d, "good")
    bad = _make_ca_and_cert(d, "bad")
    # nginx workers run as nobody: they read the client certificate case's files
    os.chmod(d, 0o755)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    yield {"ca": good[0], "good": good, "bad": bad}
    shutil.rmtree(d, ignore_errors=True)


def _server_ctx(crt, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    return ctx


def _mtls_ctx(crt, key, ca):
    ctx = _server_ctx(crt, key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(ca)
    return ctx


@pytest.fixture(scope="session")
def peer(certs):
    good = certs["good"]
    p = Peer().start(_server_ctx(*good[1:]), _server_ctx(*certs["bad"][1:]),
                     _mtls_ctx(good[1], good[2], good[0]))
    yield p
    p.stop()


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Nginx:
    def __init__(self, prefix, port, proc):
        self.prefix, self.port, self.proc = prefix, port, proc

    def get(self, path, timeout=20):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path),
                                    timeout=timeout) as r:
            return r.read().decode()

    def get_json(self, path, timeout=20):
        return json.loads(self.get(path, timeout))

    def url(self, path):
        return "ws://127.0.0.1:%d%s" % (self.port, path)

    def error_log(self):
        with open(os.path.join(self.prefix, "logs", "error.log"), errors="replace") as f:
            return f.read()


def _start_nginx(prefix, certs):
    with open(os.path.join(HERE, "nginx.conf.in")) as f:
        template = f.read()
    for attempt in range(5):
        port, tls_port = _free_port(), _free_port()
        conf = (template.replace("@PREFIX@", prefix).replace("@PORT@", str(port))
                .replace("@TLS_PORT@", str(tls_port)).replace("@ROOT@", ROOT)
                .replace("@CA@", certs["ca"]).replace("@CERT@", certs["good"][1])
                .replace("@KEY@", certs["good"][2]))
        path = os.path.join(prefix, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        proc = subprocess.Popen(["nginx", "-p", prefix, "-c", path, "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                n = Nginx(prefix, port, proc)
                n.tls_port = tls_port
                return n
            except OSError:
                time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)  # port taken (or slow start): try another one
    raise RuntimeError("nginx did not start: %s" % proc.stderr.read().decode(errors="replace"))


@pytest.fixture(scope="session")
def nginx(certs):
    if not os.path.exists(os.path.join(ROOT, "build", "lua", "wskit", "proto.so")):
        pytest.fail("build/lua/wskit/proto.so is missing: run `make lua-proto`")
    prefix = tempfile.mkdtemp(prefix="wskit-or-nginx-")
    os.makedirs(os.path.join(prefix, "logs"))
    os.makedirs(os.path.join(prefix, "tmp"))
    n = _start_nginx(prefix, certs)
    yield n
    n.proc.send_signal(signal.SIGQUIT)  # graceful: let open connections end
    try:
        n.proc.wait(10)
    except subprocess.TimeoutExpired:
        n.proc.kill()
        n.proc.wait(5)
    log = n.error_log()
    # a crash of a worker or a Lua error nobody expected is a failure
    bad = [l for l in log.splitlines()
           if "signal" in l and "exited on" in l or "[alert]" in l]
    if os.environ.get("WSK_KEEP_NGINX"):
        print("nginx prefix kept:", prefix)
    else:
        shutil.rmtree(prefix, ignore_errors=True)
    assert not bad, "\n".join(bad)


# ---- the hub tests (or_hub.py): redis-server and nginx_hub.conf.in ----

from or_hub import Redis, HubNginx  # noqa: E402


@pytest.fixture
def redis_server():
    r = Redis()
    r.start()
    yield r
    r.cleanup()


@pytest.fixture
def hub_nginx():
    """Start nginx instances of nginx_hub.conf.in: hub_nginx(backplane=None,
    workers=1). Stopped after the test; a crash or a Lua error nobody
    expected in their logs fails it."""
    started = []

    def start(backplane=None, workers=1):
        n = HubNginx(backplane, workers)
        started.append(n)
        return n
    yield start
    bad = []
    for n in started:
        n.quit()  # all at once: each waits for its timers and connections
    for n in started:
        bad += n.stop()
    assert not bad, "\n".join(bad)


@pytest.fixture(scope="module")
def local_hub():
    """One nginx with the in-worker hub (one worker), shared by a module."""
    n = HubNginx(None, 1)
    yield n
    bad = n.stop()
    assert not bad, "\n".join(bad)
