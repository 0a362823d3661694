"""Processes for the hub tests: a redis-server and nginx instances of
nginx_hub.conf.in (channels, SSE, publish, auth and limits), each on a free
loopback port, started by the test and stopped after. Every wait is
bounded."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_for(pred, timeout=10.0, step=0.05):
    """Poll pred() until it is true; return its last value."""
    deadline = time.monotonic() + timeout
    v = pred()
    while not v and time.monotonic() < deadline:
        time.sleep(step)
        v = pred()
    return v


class Redis:
    """redis-server on a loopback port; stop() and start() keep the port."""

    def __init__(self):
        self.port = free_port()
        self.url = "redis://127.0.0.1:%d/0" % self.port
        self.dir = tempfile.mkdtemp(prefix="wskit-or-redis-")
        self.proc = None

    def start(self):
        exe = shutil.which("redis-server")
        assert exe, "redis-server is not installed (apt-get install -y redis-server)"
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_port(self.port, self.proc), "redis-server did not start"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def write_conf(prefix, port, backplane=None, workers=1):
    """Write nginx_hub.conf.in for `prefix` (created with logs/ and tmp/)
    and return the config's path: /channels, /events and /publish with the
    given backplane (None: in-worker hub). Also what an OpenResty instance
    of tests/scaleout needs: nginx -p PREFIX -c PATH -g 'daemon off;'."""
    for d in ("logs", "tmp"):
        os.makedirs(os.path.join(prefix, d), exist_ok=True)
    with open(os.path.join(HERE, "nginx_hub.conf.in")) as f:
        template = f.read()
    bp = "nil" if backplane is None else json.dumps(backplane)
    conf = (template.replace("@PREFIX@", prefix).replace("@PORT@", str(port))
            .replace("@ROOT@", ROOT).replace("@WORKERS@", str(workers))
            .replace("@BACKPLANE@", bp))
    path = os.path.join(prefix, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return path


class HubNginx:
    """One nginx of nginx_hub.conf.in."""

    def __init__(self, backplane=None, workers=1):
        self.prefix = tempfile.mkdtemp(prefix="wskit-or-hub-")
        self.proc = None
        for _ in range(5):
            self.port = free_port()
            path = write_conf(self.prefix, self.port, backplane, workers)
            self.proc = subprocess.Popen(["nginx", "-p", self.prefix, "-c", path,
                                          "-g", "daemon off;"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if wait_port(self.port, self.proc):
                return
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(5)
        raise RuntimeError("nginx did not start: %s"
                           % self.proc.stderr.read().decode(errors="replace"))

    def url(self, path):
        return "ws://127.0.0.1:%d%s" % (self.port, path)

    def http(self, path, body=None, timeout=10):
        """(status, body text) of a GET, or a POST when body is given."""
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=body)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def publish(self, channel, data, kind=None):
        q = "/publish?channel=%s" % channel + ("&kind=%s" % kind if kind else "")
        status, body = self.http(q, data if isinstance(data, bytes) else data.encode())
        return status, json.loads(body)

    def log(self, name="error.log"):
        with open(os.path.join(self.prefix, "logs", name), errors="replace") as f:
            return f.read()

    def quit(self):
        """Ask for a graceful stop (stop() waits for it)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        log = self.log()
        if os.environ.get("WSK_KEEP_NGINX"):
            print("nginx prefix kept:", self.prefix)
        else:
            shutil.rmtree(self.prefix, ignore_errors=True)
        bad = [l for l in log.splitlines()
               if ("signal" in l and "exited on" in l) or "[alert]" in l
               or "lua entry thread aborted" in l]
        return bad
