"""Fixtures for the scale-out tests: a real redis-server, wskit instances
(Python, C, OpenResty) sharing it, and a real nginx with ip_hash in front
of them, the way docs/scaling.md configures it. Everything runs on
loopback, started here and stopped after; every wait is bounded."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))

from redis_server import RedisServer, free_port  # noqa: E402

TEST_SECONDS = 90


@pytest.fixture(autouse=True)
def _bounded():
    def on_alarm(signum, frame):
        raise TimeoutError("test took longer than %d s" % TEST_SECONDS)
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def wait_port(port, timeout=15.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %d"
                               % (proc.returncode, port))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listens on port %d" % port)


@pytest.fixture
def redis():
    """A real redis-server (tests/python/redis_server.py): kill() and
    start() keep its port."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install -y redis-server)")
    r = RedisServer()
    r.start()
    yield r
    r.kill()
    shutil.rmtree(r.dir, ignore_errors=True)


class Instance:
    """One wskit server process on a loopback port."""

    def __init__(self, kind, argv, port, env=None, log=None, stop=None):
        self.kind, self.argv, self.port, self.env = kind, argv, port, env
        self.log_path = log
        self.proc = None
        self._stop = stop

    def start(self):
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, proc=self.proc)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self._stop:
            self._stop()

    def log(self):
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Nginx:
    def __init__(self, upstream_ports):
        self.prefix = tempfile.mkdtemp(prefix="wskit-lb-")
        for d in ("logs", "tmp"):
            os.makedirs(os.path.join(self.prefix, d))
        self.port = free_port()
        with open(os.path.join(HERE, "nginx.conf.in")) as f:
            conf = f.read()
        ups = "\n".join("    server 127.0.0.1:%d max_fails=1 fail_timeout=30s;" % p
                        for p in upstream_ports)
        conf = (conf.replace("@PREFIX@", self.prefix).replace("@PORT@", str(self.port))
                .replace("@UPSTREAMS@", ups))
        self.conf = os.path.join(self.prefix, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(
            ["nginx", "-p", self.prefix, "-c", self.conf, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        wait_port(self.port, proc=self.proc)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        shutil.rmtree(self.prefix, ignore_errors=True)


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="wskit-scaleout-")
    yield d
    shutil.rmtree(d, ignore_errors=True)
