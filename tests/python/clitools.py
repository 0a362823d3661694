"""Run the ``wskit`` command as a user would (``python -m wskit ...`` in a
subprocess), bounded in time, on loopback with port 0."""

import asyncio
import contextlib
import os
import re
import signal
import sys

PYTHON = sys.executable
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli_env():
    # the same wskit as the tests import, whichever way it was installed;
    # no proxy from the environment: every test is on loopback
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update(PYTHONPATH=os.pathsep.join(p for p in sys.path if p), PYTHONUNBUFFERED="1")
    return env


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.lines = stdout.splitlines()

    def __repr__(self):
        return f"<exit {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}>"


async def run_cli(*args, input="", timeout=20):
    """Run ``python -m wskit ARGS`` with ``input`` on stdin (then EOF)."""
    proc = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "wskit", *args, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env())
    try:
        out, err = await asyncio.wait_for(proc.communicate(input.encode()), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"wskit {' '.join(args)} ran over {timeout} s:\n"
                             f"{out.decode()}\n{err.decode()}")
    return Result(proc.returncode, out.decode(), err.decode())


@contextlib.asynccontextmanager
async def cli_server(*args, timeout=20):
    """Run ``python -m wskit serve --port 0 ARGS``; yield (proc, ws_url).

    At the end it gets SIGTERM and must exit 0 (a graceful shutdown)."""
    proc = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "wskit", "serve", "--port", "0", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=cli_env())
    # stderr (the log) is collected all along so the server never blocks on it
    log = asyncio.ensure_future(proc.stderr.read())
    proc.log = log
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout)).decode()
        m = re.search(r" on (wss?://\S+/)", line)
        if not m:
            proc.kill()
            raise AssertionError(f"wskit serve printed {line!r}; log:\n{(await log).decode()}")
        yield proc, m.group(1)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
                raise AssertionError("wskit serve did not stop on SIGTERM")
        await log
    assert proc.returncode == 0, f"wskit serve exited {proc.returncode}:\n{log.result().decode()}"


def http_url(ws_url):
    return "http" + ws_url[2:]


async def http_get(url, timeout=10):
    """(status, headers dict, body) of a plain GET; no client library needed."""
    m = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
    host, port, path = m.group(1), int(m.group(2)), m.group(3)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
                 .encode())
    raw = await asyncio.wait_for(reader.read(), timeout)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body
