"""Fixtures for the libuv driver's tests against real peers.

Our example binaries (WSK_EXAMPLES, default build/examples) run as
subprocesses; python3-websockets and node's ws play the other side.
Everything is on 127.0.0.1 with ports the OS picks, and bounded in time.
"""
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.abspath(os.path.join(ROOT, os.environ.get("WSK_EXAMPLES", "build/examples")))
NODE_ENV = dict(os.environ, NODE_PATH="/usr/share/nodejs")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Proc:
    """A subprocess whose stdout lines are collected by a thread."""

    def __init__(self, args, stdin=False, env=None):
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  text=True, env=env)
        self.lines = []
        self.eof = False
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def wait_line(self, pred, timeout=10.0, start=0):
        """The first line (from index `start`) for which pred is true."""
        deadline = time.monotonic() + timeout
        with self.cv:
            i = start
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i]):
                        return self.lines[i]
                    i += 1
                left = deadline - time.monotonic()
                # stdout's end, not the process's: a process that just
                # exited may still have lines in the pipe
                if left <= 0 or (self.eof and i >= len(self.lines)):
                    raise AssertionError(f"no matching line; got {self.lines[-20:]}")
                self.cv.wait(min(left, 0.1))

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def close_stdin(self):
        self.p.stdin.close()

    def signal(self, sig):
        self.p.send_signal(sig)

    def wait(self, timeout=10.0):
        return self.p.wait(timeout)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        err = self.p.stderr.read()
        # sanitizer reports (asan-uv runs the examples built with ASan)
        assert "ERROR: AddressSanitizer" not in err, err
        assert "ERROR: LeakSanitizer" not in err, err
        assert "runtime error:" not in err, err
        return err


# Proxy variables of the machine running the tests must not reroute the
# examples' connections; the proxy tests pass their own.
PROXY_VARS = ("http_proxy", "https_proxy", "HTTPS_PROXY", "HTTP_PROXY", "no_proxy", "NO_PROXY",
              "all_proxy", "ALL_PROXY")
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}


def start_example(name, *args, stdin=False, env=None):
    proc = Proc([os.path.join(EXAMPLES, name), *map(str, args)], stdin=stdin,
                env=dict(CLEAN_ENV, **(env or {})))
    return proc


@pytest.fixture
def server_factory():
    procs = []

    def make(name="echo_server", *args):
        p = start_example(name, 0, *args)
        line = p.wait_line(lambda l: l.startswith("listening "))
        p.port = int(line.split()[1])
        procs.append(p)
        return p

    yield make
    for p in procs:
        p.stop()


@pytest.fixture
def echo_server(server_factory):
    return server_factory("echo_server")


@pytest.fixture
def run_client():
    procs = []

    def make(url, *args, env=None):
        p = start_example("client", url, *args, stdin=True, env=env)
        procs.append(p)
        return p

    yield make
    for p in procs:
        p.stop()


def arun(coro, timeout=30):
    """Run a coroutine with a time bound."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def node(script, *args, timeout=30):
    """Run a node script with ws available; returns its stdout."""
    r = subprocess.run(["node", "-e", script, *map(str, args)], env=NODE_ENV, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r.stdout


class Certs:
    """PEM files made by the openssl CLI for one test session: a CA; a server
    certificate for localhost, 127.0.0.1 and ::1; one for wrong.example; a
    self-signed one for localhost; a client certificate from the CA and one
    from nobody (self-signed); and `chain`: a localhost certificate from an
    intermediate CA, followed by the intermediate (the CA signed it)."""

    NEWKEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

    def __init__(self, d):
        self.dir = d
        self._ext("srv.ext", "basicConstraints=CA:FALSE\n"
                  "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n")
        self._ext("wrong.ext", "basicConstraints=CA:FALSE\nsubjectAltName=DNS:wrong.example\n"
                  "extendedKeyUsage=serverAuth\n")
        self._ext("cli.ext", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
        self._ext("inter.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
        self._ssl("req", "-x509", *self.NEWKEY, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                  "-subj", "/CN=wskit test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        for name, cn, ext, serial, ca in (("srv", "localhost", "srv.ext", "2", "ca"),
                                          ("wrong", "wrong.example", "wrong.ext", "3", "ca"),
                                          ("cli", "wskit-client", "cli.ext", "4", "ca"),
                                          ("inter", "wskit intermediate", "inter.ext", "5", "ca"),
                                          ("leaf", "localhost", "srv.ext", "6", "inter")):
            self._ssl("req", "-new", *self.NEWKEY, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                      "-subj", f"/CN={cn}")
            self._ssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                      "-set_serial", serial, "-days", "2", "-extfile", ext, "-out", f"{name}.pem")
        with open(os.path.join(d, "chain.pem"), "w") as out:
            for name in ("leaf", "inter"):
                with open(os.path.join(d, name + ".pem")) as f:
                    out.write(f.read())
        shutil.copy(os.path.join(d, "leaf.key"), os.path.join(d, "chain.key"))
        self._ssl("req", "-x509", *self.NEWKEY, "-keyout", "self.key", "-out", "self.pem", "-days", "2",
                  "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
        self._ssl("req", "-x509", *self.NEWKEY, "-keyout", "stranger.key", "-out", "stranger.pem",
                  "-days", "2", "-subj", "/CN=stranger", "-addext", "extendedKeyUsage=clientAuth")

    def _ext(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def _ssl(self, *args):
        subprocess.run(["openssl", *args], cwd=self.dir, check=True, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __getattr__(self, name):
        # certs.srv -> .../srv.pem, certs.srv_key -> .../srv.key
        if name.startswith("_"):
            raise AttributeError(name)
        if name.endswith("_key"):
            return os.path.join(self.dir, name[:-4] + ".key")
        return os.path.join(self.dir, name + ".pem")


@pytest.fixture(scope="session")
def certs():
    d = tempfile.mkdtemp(prefix="wskit-uv-certs-")
    try:
        yield Certs(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# A python3-websockets wss echo server on a port it picked; it prints the
# SNI it got, and for each connection the ALPN and the client certificate's CN.
PY_WSS_SERVER = r"""
import asyncio, ssl, sys, websockets
cert, key, client_ca = sys.argv[1:4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.set_alpn_protocols(["http/1.1"])
if client_ca != "-":
    ctx.load_verify_locations(client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
def sni(sslobj, name, c):
    print("sni", name, flush=True)
ctx.sni_callback = sni
async def handler(ws, path=None):
    so = ws.transport.get_extra_info("ssl_object")
    peer = dict(x[0] for x in (so.getpeercert() or {}).get("subject", ()))
    print("open alpn", so.selected_alpn_protocol(), "peer", peer.get("commonName"), flush=True)
    async for m in ws:
        await ws.send(m)
async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, ssl=ctx, max_size=None) as srv:
        print("ready", srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(60)
asyncio.run(main())
"""


def py_wss_server(certs, cert="srv", client_ca=None):
    p = Proc([sys.executable, "-c", PY_WSS_SERVER, getattr(certs, cert), getattr(certs, cert + "_key"),
              client_ca or "-"])
    p.port = int(p.wait_line(lambda l: l.startswith("ready ")).split()[1])
    return p


# our client's attempts end in bounded time even when a peer stalls
OPEN_TIMEOUT = ("--open-timeout", 5000)
