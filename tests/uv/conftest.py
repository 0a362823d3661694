"""Fixtures for the libuv driver's tests against real peers.

Our example binaries (WSK_EXAMPLES, default build/examples) run as
subprocesses; python3-websockets and node's ws play the other side.
Everything is on 127.0.0.1 with ports the OS picks, and bounded in time.
"""
import asyncio
import os
import signal
import socket
import subprocess
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
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
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
                if left <= 0 or (self.p.poll() is not None and i >= len(self.lines)):
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


def start_example(name, *args, stdin=False):
    proc = Proc([os.path.join(EXAMPLES, name), *map(str, args)], stdin=stdin)
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

    def make(url, *args):
        p = start_example("client", url, *args, stdin=True)
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
