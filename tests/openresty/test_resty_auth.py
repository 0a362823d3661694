"""Authentication, Host/Origin allowlists and rate limits of
resty.wskit.server in a real nginx (nginx_hub.conf.in, hub_app.lua),
each accepted and refused, each limit crossed, driven by python3-websockets
and a raw socket client."""
import asyncio
import json
import time

import pytest
import websockets

from or_hub import wait_for
from or_raw import Raw
from or_util import run


async def recv(ws, timeout=5):
    return await asyncio.wait_for(ws.recv(), timeout)


def refused_status(url, **kw):
    async def go():
        try:
            async with websockets.connect(url, **kw):
                return 101
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code
    return run(go())


def test_token_in_query_string_and_kept_out_of_the_access_log(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/app/token?token=s3cret&x=1")) as ws:
            await ws.send("whoami")
            assert await recv(ws) == "user:alice"
    run(go())
    assert refused_status(local_hub.url("/app/token?token=wrong")) == 401
    assert refused_status(local_hub.url("/app/token")) == 401
    # the access log line is written when the request ends
    log = wait_for(lambda: "/app/token?token=***" in local_hub.log("access.log")
                   and local_hub.log("access.log"))
    assert log and "s3cret" not in log and "wrong" not in log
    assert "/app/token?token=***&x=1" in log


def test_cookie(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/app/cookie"),
                                      extra_headers={"Cookie": "a=b; session=c00kie"}) as ws:
            await ws.send("whoami")
            assert await recv(ws) == "user:bob"
    run(go())
    assert refused_status(local_hub.url("/app/cookie"),
                          extra_headers={"Cookie": "session=nope"}) == 403
    assert refused_status(local_hub.url("/app/cookie")) == 403


def test_authorization_header(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/app/bearer"),
                                      extra_headers={"Authorization": "Bearer t0ken"}) as ws:
            await ws.send("whoami")
            assert await recv(ws) == "user:carol"
    run(go())
    assert refused_status(local_hub.url("/app/bearer"),
                          extra_headers={"Authorization": "Bearer nope"}) == 401


def test_first_message_auth_accepts_and_then_processes_messages(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/app/first")) as ws:
            # sent back to back: the second is only processed after the verdict
            await ws.send("login s3cret")
            await ws.send("whoami")
            assert await recv(ws) == "user:dave"
            await ws.send("hi")
            assert await recv(ws) == "echo:hi"
    run(go())


def test_first_message_auth_failure_closes_1008_and_nothing_else_is_processed(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/app/first")) as ws:
            await ws.send("login wrong")
            await ws.send("whoami")
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await recv(ws)  # no echo, no user: the close
            assert ws.close_code == 1008
            assert ws.close_reason == "bad credentials"
    run(go())


def test_first_message_auth_timeout_closes_1008(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/app/first?auth_timeout=300")) as ws:
            t0 = time.monotonic()
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await recv(ws, 5)
            assert ws.close_code == 1008
            assert 0.25 < time.monotonic() - t0 < 3
    run(go())


def test_first_message_auth_without_auth_timeout_still_authenticates(local_hub):
    # the hook alone (no auth_timeout) must not leave the connection open
    # to unauthenticated messages
    async def go():
        async with websockets.connect(local_hub.url("/app/first?auth_timeout=none")) as ws:
            await ws.send("hello")
            await ws.send("whoami")
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await recv(ws)
            assert ws.close_code == 1008 and ws.close_reason == "bad credentials"
        async with websockets.connect(local_hub.url("/app/first?auth_timeout=none")) as ws:
            await ws.send("login s3cret")
            await ws.send("whoami")
            assert await recv(ws) == "user:dave"
    run(go())


def test_first_message_auth_default_timeout_is_10_seconds(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/app/first?auth_timeout=none")) as ws:
            t0 = time.monotonic()
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await recv(ws, 15)
            assert ws.close_code == 1008
            assert 9.5 < time.monotonic() - t0 < 13
    run(go(), 30)


def test_rate_limited_replies_carry_the_request_id_and_channel(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/channels?rate=1&burst=2")) as ws:
            for i in range(6):
                await ws.send(json.dumps({"type": "subscribe", "channel": "q%d" % i, "id": i}))
            got = []
            try:
                while True:
                    got.append(json.loads(await recv(ws, 1)))
            except asyncio.TimeoutError:
                pass
            errs = [g for g in got if g["type"] == "error"]
            assert errs and all(e["code"] == "rate_limited" for e in errs)
            for e in errs:
                assert e["channel"] == "q%d" % e["id"]
            assert len({e["id"] for e in errs} | {g["id"] for g in got
                                                  if g["type"] == "subscribed"}) == 6
    run(go())


def test_hosts_allowlist(local_hub):
    r = Raw(local_hub.port)
    status, _ = r.request("/app/hosts", headers={"Host": "evil.example"})
    r.close()
    assert status == 403
    r = Raw(local_hub.port)
    status, _ = r.request("/app/hosts", headers={"Host": "good.example"})
    r.close()
    assert status == 101
    # an entry without a port matches any port
    assert refused_status(local_hub.url("/app/hosts")) == 101


def send_burst(url, n, extra=None):
    """Send n messages back to back, then `extra`; collect replies until
    the close or 1.5 s of quiet. Returns (replies, close code)."""
    async def go():
        got = []
        async with websockets.connect(url) as ws:
            for i in range(n):
                await ws.send("m%d" % i)
            if extra:
                await asyncio.sleep(1.2)
                await ws.send(extra)
            try:
                while True:
                    got.append(await recv(ws, 1.5))
            except asyncio.TimeoutError:
                pass
            except websockets.exceptions.ConnectionClosed:
                pass
            return got, ws.close_code
    return run(go(), 20)


def test_rate_limit_error_policy_replies_and_counts(local_hub):
    got, code = send_burst(local_hub.url("/app/rate?rate=1&burst=3&policy=error"), 10)
    echoes = [g for g in got if g.startswith("echo:")]
    errors = [json.loads(g) for g in got if g.startswith("{")]
    assert 3 <= len(echoes) <= 4 and len(echoes) + len(errors) == 10
    assert all(e["type"] == "error" and e["code"] == "rate_limited" for e in errors)
    assert code is None or code == 1000  # still open until we closed it


def test_rate_limit_drop_policy_is_silent_and_counted(local_hub):
    got, _ = send_burst(local_hub.url("/app/rate?rate=1&burst=3&policy=drop"), 10, "stats")
    echoes = [g for g in got if g.startswith("echo:")]
    stats = json.loads(got[-1])
    assert 3 <= len(echoes) <= 4
    assert stats["rate_limited"] == 10 - len(echoes)
    assert stats["messages_in"] >= len(echoes) + 1


def test_rate_limit_close_policy_closes_1008(local_hub):
    got, code = send_burst(local_hub.url("/app/rate?rate=1&burst=3&policy=close"), 10)
    assert code == 1008
    assert 3 <= len(got) <= 4


def test_rate_limit_on_channel_connections(local_hub):
    async def go():
        async with websockets.connect(local_hub.url("/channels?rate=1&burst=2")) as ws:
            for i in range(6):
                await ws.send(json.dumps({"type": "subscribe", "channel": "r%d" % i}))
            got = []
            try:
                while True:
                    got.append(json.loads(await recv(ws, 1)))
            except asyncio.TimeoutError:
                pass
            subs = [g for g in got if g["type"] == "subscribed"]
            errs = [g for g in got if g["type"] == "error"]
            assert 2 <= len(subs) <= 3 and len(subs) + len(errs) == 6
            assert {e["code"] for e in errs} == {"rate_limited"}
    run(go())


def ip_count(hub):
    return int(hub.http("/ipcount")[1])


def test_per_ip_limit_rejects_with_429_and_releases(local_hub):
    assert wait_for(lambda: ip_count(local_hub) == 0)

    async def go():
        url = local_hub.url("/app/ip?max=2")
        a = await websockets.connect(url)
        b = await websockets.connect(url)
        assert ip_count(local_hub) == 2
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            await websockets.connect(url)
        assert e.value.status_code == 429
        assert e.value.headers["Retry-After"] == "5"
        await a.close()
        # a's count is given back when its handler sees the close
        for _ in range(100):
            if ip_count(local_hub) == 1:
                break
            await asyncio.sleep(0.05)
        c = await websockets.connect(url)
        await c.send("x")
        assert await recv(c) == "echo:x"
        await b.close()
        await c.close()
    run(go())
    assert wait_for(lambda: ip_count(local_hub) == 0)


def test_per_ip_limit_close_policy_accepts_then_closes_1013(local_hub):
    assert wait_for(lambda: ip_count(local_hub) == 0)

    async def go():
        url = local_hub.url("/app/ip?max=1&policy=close")
        a = await websockets.connect(url)
        b = await websockets.connect(url)  # accepted...
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            await recv(b)                  # ...then closed
        assert b.close_code == 1013
        await a.send("x")
        assert await recv(a) == "echo:x"
        await a.close()
    run(go())
    assert wait_for(lambda: ip_count(local_hub) == 0)
