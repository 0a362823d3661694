"""Reconnecting with `async for ws in connect(...)`, the backoff policy and
the classification of failures (both from the core)."""

import asyncio
import socket

import pytest

import wskit
from helpers import port_of
from wskit import _core
from wskit.exceptions import InvalidHandshake, InvalidStatus
from wskit.http import Response
from wskit.reconnect import classify

FAST = wskit.Backoff(initial_delay=0.02, min_delay=0.02, max_delay=0.1, factor=2)


async def test_reconnects_after_server_restart():
    generation = [0]

    async def hello(ws):
        generation[0] += 1
        await ws.send(f"gen {generation[0]}")
        await ws.wait_closed()

    server = await wskit.serve(hello, "127.0.0.1", 0)
    port = port_of(server)
    received = []
    first = asyncio.Event()

    async def client():
        async for ws in wskit.connect(f"ws://127.0.0.1:{port}/", backoff=FAST):
            try:
                async for message in ws:
                    received.append(message)
                    first.set()
                    if len(received) == 2:
                        return
            except wskit.ConnectionClosed:
                continue

    task = asyncio.ensure_future(client())
    try:
        await asyncio.wait_for(first.wait(), 5)
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.3)  # the client retries against a closed port
        server = await wskit.serve(hello, "127.0.0.1", port)
        await asyncio.wait_for(task, 5)
    finally:
        task.cancel()
        server.close()
        await server.wait_closed()
    assert received == ["gen 1", "gen 2"]


async def test_fatal_status_is_raised_at_once():
    async with wskit.serve(lambda ws: None, "127.0.0.1", 0,
                           process_request=lambda ws, r: Response(403)) as server:
        with pytest.raises(InvalidStatus):
            async for ws in wskit.connect(f"ws://127.0.0.1:{port_of(server)}/", backoff=FAST):
                pytest.fail("connected")


async def test_process_exception_decides():
    attempts = []

    def retry_403_twice(exc):
        attempts.append(exc)
        if len(attempts) < 3:
            return None
        return RuntimeError("gave up")

    async with wskit.serve(lambda ws: None, "127.0.0.1", 0,
                           process_request=lambda ws, r: Response(403)) as server:
        with pytest.raises(RuntimeError, match="gave up"):
            async for ws in wskit.connect(f"ws://127.0.0.1:{port_of(server)}/", backoff=FAST,
                                          process_exception=retry_403_twice):
                pytest.fail("connected")
    assert len(attempts) == 3


async def test_max_attempts_ends_the_loop():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backoff = wskit.Backoff(initial_delay=0.01, min_delay=0.01, max_delay=0.02, max_attempts=2)
    with pytest.raises(ConnectionRefusedError):
        async for ws in wskit.connect(f"ws://127.0.0.1:{port}/", backoff=backoff):
            pytest.fail("connected")


def test_classification():
    assert classify(ConnectionRefusedError()) == (_core.FAIL_REFUSED, 0)
    assert classify(asyncio.TimeoutError()) == (_core.FAIL_TIMEOUT, 0)
    assert classify(socket.gaierror()) == (_core.FAIL_DNS, 0)
    assert classify(InvalidStatus(Response(503))) == (_core.FAIL_HTTP_STATUS, 503)
    assert classify(InvalidHandshake("bad accept")) == (_core.FAIL_HANDSHAKE, 0)
    assert classify(ValueError()) is None
    assert wskit.process_exception(InvalidStatus(Response(503))) is None
    exc = InvalidStatus(Response(404))
    assert wskit.process_exception(exc) is exc
    assert _core.failure_should_retry(_core.FAIL_CLOSED, 1000) is False
    assert _core.failure_should_retry(_core.FAIL_CLOSED, 1000,
                                      lambda kind, detail, dflt: True) is True


def test_backoff_policy():
    b = wskit.Backoff(initial_delay=0, min_delay=0.1, factor=2, max_delay=0.3, jitter=0,
                      max_attempts=4).policy()
    assert [b.next() for _ in range(5)] == [0, 100, 200, 300, -1]
    b.reset()
    assert b.next() == 0
