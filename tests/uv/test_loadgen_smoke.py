"""Smoke test of the benchmark tools (bench/loadgen.c, bench/raw_echo.c), so
they cannot rot: about a second of load in each mode against our
echo_server and the raw TCP echo, with every echo checked (--verify).
`make test-uv` builds them into build/bench (WSK_BENCH overrides)."""
import os
import subprocess

import pytest

from conftest import ROOT, Proc

BENCH = os.path.abspath(os.path.join(ROOT, os.environ.get("WSK_BENCH", "build/bench")))


def loadgen(*args, timeout=30):
    r = subprocess.run([os.path.join(BENCH, "loadgen"), *map(str, args)], capture_output=True,
                       text=True, timeout=timeout)
    line = next((l for l in r.stdout.splitlines() if l.startswith("RESULT ")), None)
    assert r.returncode == 0 and line, (r.returncode, r.stdout, r.stderr)
    return dict(kv.split("=", 1) for kv in line.split()[1:])


@pytest.fixture
def raw_echo():
    p = Proc([os.path.join(BENCH, "raw_echo"), "0"])
    p.port = int(p.wait_line(lambda l: l.startswith("listening ")).split()[1])
    yield p
    p.stop()


def check(res, conns):
    assert res["errors"] == "0", res
    assert int(res["open"]) == conns, res
    assert float(res["rps"]) > 0 and int(res["count"]) > 0, res
    assert 0 < float(res["p50_us"]) <= float(res["p99_us"]) <= float(res["max_us"]), res


@pytest.mark.parametrize("mode", [[], ["--lean"], ["--text"], ["--deflate", "--text"]])
def test_loadgen_against_echo_server(echo_server, mode):
    res = loadgen("-c", 4, "-s", 1000, "-p", 2, "-d", 1, "-w", 0.2, "--verify",
                  "--server-pid", echo_server.p.pid, *mode, f"ws://127.0.0.1:{echo_server.port}/")
    check(res, 4)
    assert float(res["server_cpu"]) >= 0, res


def test_loadgen_raw_against_raw_echo(raw_echo):
    res = loadgen("--raw", "-c", 4, "-s", 70000, "-p", 2, "-d", 1, "-w", 0.2, "--verify",
                  f"tcp://127.0.0.1:{raw_echo.port}")
    check(res, 4)


def test_loadgen_idle(echo_server):
    res = loadgen("--idle", "-c", 50, "-d", 0.5, f"ws://127.0.0.1:{echo_server.port}/")
    assert res["open"] == "50" and res["failed"] == "0", res


def test_loadgen_stops_when_nothing_listens(raw_echo):
    raw_echo.stop()  # the port is free now: every connection is refused
    r = subprocess.run([os.path.join(BENCH, "loadgen"), "-c", "2", "-d", "1",
                        f"ws://127.0.0.1:{raw_echo.port}/"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "RESULT" in r.stdout
