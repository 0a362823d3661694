"""Request/response (JSON-RPC 2.0) on both sides: results, remote errors
and the specification's codes, timeouts, cancellation, disconnects with
requests pending, which text messages are claimed, the callback style,
flow control, and the core's table on its own."""

import asyncio
import json

import pytest

import wskit
from helpers import wskit_server
from wskit import _core
from wskit.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK

rpc = wskit.Methods()


@rpc.method("add")
def add(a, b):
    return a + b


@rpc.method()
async def sleep(seconds, value=None):
    await asyncio.sleep(seconds)
    return value


@rpc.method("fail")
def fail(code=None):
    if code is not None:
        raise wskit.RequestError(code, "custom failure", {"why": "asked"})
    raise ValueError("something broke")


@rpc.method("echo")
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@rpc.method("peer", pass_connection=True)
def peer(ws):
    return type(ws).__name__


async def idle(ws):
    await ws.wait_closed()


async def test_request_to_server_with_list_dict_and_no_params():
    async with wskit_server(idle, methods=rpc) as (server, url):
        async with wskit.connect(url) as ws:
            assert await ws.request("add", [1, 2]) == 3
            assert await ws.request("add", (10, 20)) == 30
            assert await ws.request("add", {"a": "x", "b": "y"}) == "xy"
            assert await ws.request("echo") == {"args": [], "kwargs": {}}
            assert await ws.request("sleep", [0.01, [1, None, "é"]]) == [1, None, "é"]
            assert await ws.request("sleep", {"seconds": 0}) is None
            assert await ws.request("peer") == "ServerConnection"
            assert len(ws._rpc) == 0


async def test_concurrent_requests_are_matched_by_id():
    async with wskit_server(idle, methods=rpc) as (server, url):
        async with wskit.connect(url) as ws:
            # replies come back in another order than the requests went out
            calls = [ws.request("sleep", [0.05 - i / 1000, i]) for i in range(40)]
            assert await asyncio.gather(*calls) == list(range(40))


async def test_request_from_server_to_client():
    client_rpc = wskit.Methods({"whoami": lambda: "client", "add": add})
    results = []

    async def ask(ws):
        results.append(await ws.request("whoami"))
        results.append(await ws.request("add", [2, 3]))
        with pytest.raises(wskit.RequestError) as info:
            await ws.request("missing")
        results.append(info.value.code)
        await ws.send("done")
        await ws.wait_closed()

    async with wskit_server(ask) as (server, url):
        async with wskit.connect(url, methods=client_rpc) as ws:
            assert await asyncio.wait_for(ws.recv(), 5) == "done"
    assert results == ["client", 5, -32601]


async def test_both_sides_call_each_other_at_once():
    server_rpc = wskit.Methods({"twice": lambda x: 2 * x})
    client_rpc = wskit.Methods({"thrice": lambda x: 3 * x})
    got = []

    async def handler(ws):
        got.append(await asyncio.gather(*(ws.request("thrice", [i]) for i in range(5))))
        await ws.wait_closed()

    async with wskit_server(handler, methods=server_rpc) as (server, url):
        async with wskit.connect(url, methods=client_rpc) as ws:
            assert await asyncio.gather(*(ws.request("twice", [i]) for i in range(5))) == \
                [0, 2, 4, 6, 8]
            while not got:
                await asyncio.sleep(0.01)
    assert got == [[0, 3, 6, 9, 12]]


async def test_remote_errors_carry_code_message_and_data():
    async with wskit_server(idle, methods=rpc) as (server, url):
        async with wskit.connect(url) as ws:
            with pytest.raises(wskit.RequestError) as info:
                await ws.request("fail", [4001])
            assert (info.value.code, info.value.message, info.value.data) == \
                (4001, "custom failure", {"why": "asked"})
            with pytest.raises(wskit.RequestError) as info:
                await ws.request("fail")
            assert info.value.code == -32000
            assert info.value.message == "ValueError: something broke"
            with pytest.raises(wskit.RequestError) as info:
                await ws.request("nothing")
            assert info.value.code == wskit.RequestError.METHOD_NOT_FOUND
            assert "nothing" in info.value.message
            with pytest.raises(wskit.RequestError) as info:
                await ws.request("add", [1])
            assert info.value.code == wskit.RequestError.INVALID_PARAMS
            assert "b" in info.value.data
            with pytest.raises(wskit.RequestError) as info:
                await ws.request("add", {"a": 1, "c": 2})
            assert info.value.code == -32602
            assert await ws.request("add", [1, 1]) == 2  # still fine


async def test_hidden_errors_and_unencodable_results():
    quiet = wskit.Methods({"fail": fail, "weird": lambda: {1, 2}}, expose_errors=False)
    async with wskit_server(idle, methods=quiet) as (server, url):
        async with wskit.connect(url) as ws:
            with pytest.raises(wskit.RequestError) as info:
                await ws.request("fail")
            assert (info.value.code, info.value.message) == (-32603, "Internal error")
            with pytest.raises(wskit.RequestError) as info:
                await ws.request("weird")
            assert info.value.code == -32603


async def test_parse_error_invalid_request_and_batches_on_the_wire():
    async with wskit_server(idle, methods=rpc) as (server, url):
        async with wskit.connect(url) as ws:  # no methods, no request: sees everything
            async def exchange(text):
                await ws.send(text)
                return json.loads(await asyncio.wait_for(ws.recv(), 5))

            assert await exchange('{"jsonrpc": "2.0", "method": "add", "params": [1, 2') == {
                "jsonrpc": "2.0", "id": None,
                "error": {"code": -32700, "message": "Parse error"}}
            reply = await exchange('{"jsonrpc": "2.0", "method": 1, "id": 7}')
            assert reply["error"]["code"] == -32600 and reply["id"] == 7
            reply = await exchange('{"jsonrpc": "2.0", "method": "add", "params": 3, "id": 8}')
            assert reply["error"]["code"] == -32600
            reply = await exchange('{"jsonrpc": "2.0", "id": {"a": 1}, "method": "add"}')
            assert reply["error"]["code"] == -32600 and reply["id"] is None
            assert await exchange('{"jsonrpc": "2.0", "id": "s", "method": "add", '
                                  '"params": [1, 2]}') == {"jsonrpc": "2.0", "id": "s",
                                                           "result": 3}
            assert await exchange('[{"jsonrpc": "2.0"}]') == [
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32600,
                                                         "message": "Invalid Request"}}]
            batch = await exchange(json.dumps([
                {"jsonrpc": "2.0", "id": 1, "method": "add", "params": [1, 1]},
                {"jsonrpc": "2.0", "method": "add", "params": [1, 1]},  # notification
                {"jsonrpc": "2.0", "id": 2, "method": "sleep", "params": [0.01, "s"]},
                {"jsonrpc": "2.0", "id": 3, "method": "nope"},
                5,
            ]))
            assert batch == [
                {"jsonrpc": "2.0", "id": 1, "result": 2},
                {"jsonrpc": "2.0", "id": 2, "result": "s"},
                {"jsonrpc": "2.0", "id": 3, "error": {"code": -32601,
                                                      "message": "Method not found: nope"}},
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32600,
                                                         "message": "Invalid Request"}},
            ]
            # a batch of notifications gets no answer at all: the next
            # message is the reply to the request after it
            await ws.send(json.dumps([{"jsonrpc": "2.0", "method": "add", "params": [1, 2]}]))
            assert await exchange('{"jsonrpc": "2.0", "id": "z", "method": "add", '
                                  '"params": [0, 0]}') == {"jsonrpc": "2.0", "id": "z",
                                                           "result": 0}
            # plain text and JSON without "jsonrpc" are the application's
            async with wskit_server(methods=rpc) as (s2, url2):
                async with wskit.connect(url2) as echo_ws:
                    for text in ('{"not": "rpc"}', '{"jsonrpc": "1.0", "method": "add"}',
                                 "[1, 2]", "jsonrpc"):
                        await echo_ws.send(text)
                        assert await echo_ws.recv() == text


async def test_notifications_call_without_reply():
    seen = []
    table = wskit.Methods({"log": lambda *a: seen.append(a)})

    async def handler(ws):
        await ws.send(await ws.recv())
        await ws.wait_closed()

    async with wskit_server(handler, methods=table) as (server, url):
        async with wskit.connect(url) as ws:
            await ws.notify("log", ["one", 1])
            await ws.notify("unknown", {"x": 1})  # ignored: nobody to tell
            await ws.notify("log", ("two",))
            await ws.send("marker")
            assert await asyncio.wait_for(ws.recv(), 5) == "marker"
    assert seen == [("one", 1), ("two",)]


async def test_plain_json_apps_are_untouched_until_rpc_is_on():
    replies = ['{"jsonrpc": "2.0", "id": 1, "result": 5}',
               '{"jsonrpc": "2.0", "id": 1, "method": "x"}']

    async def handler(ws):
        for r in replies:
            await ws.send(r)
        await ws.wait_closed()

    async with wskit_server(handler) as (server, url):
        async with wskit.connect(url) as ws:
            assert ws._rpc is None
            assert [await ws.recv(), await ws.recv()] == replies


async def test_replies_to_ids_we_did_not_issue_reach_recv():
    async def handler(ws):
        request = json.loads(await ws.recv())
        # one reply to an id the client never used, then the real one
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 999, "result": "stray"}))
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": "1", "result": "string id"}))
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "ok"}))
        await ws.wait_closed()

    async with wskit_server(handler) as (server, url):
        async with wskit.connect(url) as ws:
            assert await ws.request("anything") == "ok"
            assert json.loads(await ws.recv())["result"] == "stray"
            assert json.loads(await ws.recv())["result"] == "string id"


async def test_timeout_then_late_reply_is_dropped():
    async with wskit_server(idle, methods=rpc) as (server, url):
        async with wskit.connect(url) as ws:
            with pytest.raises(wskit.RequestTimeout) as info:
                await ws.request("sleep", [0.3, "late"], timeout=0.05)
            assert isinstance(info.value, asyncio.TimeoutError)
            assert info.value.method == "sleep" and "0.05" in str(info.value)
            assert len(ws._rpc) == 0
            await asyncio.sleep(0.4)  # the late reply arrives and is dropped
            assert ws._queue is None or not ws._queue
            assert await ws.request("add", [2, 2], timeout=5) == 4


async def test_timeouts_share_the_connection_timer_and_end_in_order():
    async with wskit_server(idle, methods=rpc) as (server, url):
        async with wskit.connect(url, ping_interval=None) as ws:
            loop = asyncio.get_running_loop()
            ended = []

            async def call(timeout):
                try:
                    await ws.request("sleep", [0.4], timeout=timeout)
                except wskit.RequestTimeout:
                    ended.append((timeout, loop.time()))

            start = loop.time()
            await asyncio.gather(*(call(t) for t in (0.2, 0.05, 0.1)))
            assert [t for t, _ in ended] == [0.05, 0.1, 0.2]
            for t, at in ended:
                assert at - start >= t - 0.01
            assert ws._rpc.next_deadline == -1


async def test_cancelled_request_leaves_the_table():
    async with wskit_server(idle, methods=rpc) as (server, url):
        async with wskit.connect(url) as ws:
            task = asyncio.ensure_future(ws.request("sleep", [0.2, 1]))
            await asyncio.sleep(0.02)
            assert len(ws._rpc) == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0)
            assert len(ws._rpc) == 0
            await asyncio.sleep(0.3)  # its reply comes and is dropped
            assert await ws.request("add", [1, 2]) == 3


async def test_server_killed_with_requests_pending():
    gate = asyncio.Event()

    async def never(seconds):
        await gate.wait()

    table = wskit.Methods({"never": never})
    async with wskit_server(idle, methods=table) as (server, url):
        ws = await wskit.connect(url)
        calls = [asyncio.ensure_future(ws.request("never", [1], timeout=None))
                 for _ in range(10)]
        await asyncio.sleep(0.05)
        assert len(ws._rpc) == 10
        (conn,) = server.connections
        conn.transport.abort()  # the server dies without a close frame
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(type(r) is ConnectionClosedError for r in results), results
        assert all(r.code == 1006 for r in results)
        assert len(ws._rpc) == 0
        gate.set()
        with pytest.raises(ConnectionClosed):
            await ws.request("never", [1])


async def test_close_with_requests_pending_ends_each_once():
    ended = []

    async def handler(ws):
        await ws.wait_closed()

    async with wskit_server(handler) as (server, url):  # the server never answers
        async with wskit.connect(url) as ws:
            calls = [asyncio.ensure_future(ws.request("nobody", timeout=None))
                     for _ in range(5)]
            timed = asyncio.ensure_future(ws.request("nobody", timeout=0.01))
            with pytest.raises(wskit.RequestTimeout):
                await timed
            for c in calls:
                c.add_done_callback(ended.append)
            await ws.close()
            for c in calls:
                with pytest.raises(ConnectionClosedOK):
                    await c
            await asyncio.sleep(0.01)
            assert len(ended) == 5 and len(ws._rpc) == 0


async def test_server_side_pending_requests_fail_when_the_client_leaves():
    outcome = asyncio.get_running_loop().create_future()

    async def handler(ws):
        try:
            await ws.request("never_answered", timeout=None)
        except ConnectionClosed as exc:
            outcome.set_result(type(exc).__name__)

    async with wskit_server(handler) as (server, url):
        ws = await wskit.connect(url)
        await asyncio.sleep(0.05)
        await ws.close(1001)
        assert await asyncio.wait_for(outcome, 5) == "ConnectionClosedOK"


async def test_request_on_a_closed_connection_and_bad_arguments():
    async with wskit_server(idle, methods=rpc) as (server, url):
        ws = await wskit.connect(url)
        with pytest.raises(TypeError):
            await ws.request("add", 5)
        with pytest.raises(TypeError):
            await ws.request(5)
        with pytest.raises(TypeError):
            await ws.request("add", [object(), 1])  # not JSON
        assert len(ws._rpc) == 0
        await ws.close()
        with pytest.raises(ConnectionClosedOK):
            await ws.request("add", [1, 2])
        with pytest.raises(ConnectionClosedOK):
            await ws.notify("add", [1, 2])


class AddHandler(wskit.Handler):
    def on_message(self, message):
        self.send("plain:" + message)


async def test_handler_style_both_sides():
    client_rpc = wskit.Methods({"double": lambda x: 2 * x})
    async with wskit_server(AddHandler, methods=rpc) as (server, url):
        # awaitable client -> Handler server
        async with wskit.connect(url) as ws:
            assert await ws.request("add", [1, 2]) == 3
            await ws.send("hi")
            assert await ws.recv() == "plain:hi"
        # Handler client: request() returns a future; the server calls it too
        bot = await wskit.connect(url, protocol_class=AddHandler, methods=client_rpc)
        assert await bot.request("add", [4, 5]) == 9
        (conn,) = [c for c in server.connections if c.state == wskit.State.OPEN]
        assert await conn.request("double", [21]) == 42
        assert bot.notify("add", [0, 0]) is False
        fut = bot.request("sleep", [0.3], timeout=0.05)
        with pytest.raises(wskit.RequestTimeout):
            await fut
        pending = bot.request("sleep", [0.3])
        bot.close()
        with pytest.raises(ConnectionClosedOK):
            await pending
        await bot.wait_closed()


async def test_max_running_bounds_concurrent_calls():
    running = []
    peak = []

    async def work(i):
        running.append(i)
        peak.append(len(running))
        await asyncio.sleep(0.02)
        running.remove(i)
        return i

    table = wskit.Methods({"work": work}, max_running=3)
    async with wskit_server(idle, methods=table) as (server, url):
        async with wskit.connect(url) as ws:
            assert await asyncio.gather(*(ws.request("work", [i]) for i in range(20))) == \
                list(range(20))
    assert max(peak) <= 3


@pytest.mark.timeout(30)
async def test_a_peer_that_does_not_read_replies_stops_being_read():
    big = "x" * 262144
    table = wskit.Methods({"big": lambda i: [i, big]})
    count = 300
    async with wskit_server(idle, methods=table) as (server, url):
        # a client without request/response: it sends requests as plain
        # text and does not read, so its queue fills and it stops reading
        # (no compression: the kernel's buffers must not swallow it all)
        async with wskit.connect(url, max_queue=4, compression=None) as ws:
            for i in range(count):
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": i, "method": "big",
                                          "params": [i]}))
            await asyncio.sleep(0.3)
            (conn,) = server.connections
            # the server paused reading instead of piling up 20 MB of replies
            assert conn.transport.get_write_buffer_size() < 1 << 20
            assert conn._reading_paused
            got = [json.loads(await asyncio.wait_for(ws.recv(), 10))["result"][0]
                   for _ in range(count)]
            assert got == list(range(count))


async def test_with_the_websockets_library_as_the_client():
    import websockets

    async with wskit_server(idle, methods=rpc) as (server, url):
        async with websockets.connect(url) as peer:
            await peer.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "add",
                                        "params": [40, 2]}))
            assert json.loads(await peer.recv()) == {"jsonrpc": "2.0", "id": 1, "result": 42}


def test_methods_table():
    table = wskit.Methods({"a": add})

    @table.method()
    def b():
        pass

    @table.method("c.d", pass_connection=True)
    def c(ws):
        pass

    assert list(table) == ["a", "b", "c.d"] and "b" in table and len(table) == 3
    table.remove("b")
    assert "b" not in table
    with pytest.raises(TypeError):
        table.add("x", 5)
    with pytest.raises(TypeError):
        wskit.connect("ws://localhost/", methods=[add])
    with pytest.raises(ValueError):
        wskit.Methods(max_running=0)


def test_rpc_table_of_the_core():
    t = _core.RpcTable()
    ids = [t.next_id() for _ in range(3)]
    assert ids == [1, 2, 3]
    t.add(1, 100, "a")
    t.add(2, 50, "b")
    t.add(3, None, "c")
    with pytest.raises(KeyError):
        t.add(1, 10, "again")
    with pytest.raises(TypeError):
        t.add(4, 10, None)
    assert len(t) == 3 and t.next_deadline == 50
    assert t.expire(49) == []
    assert t.expire(100) == [(2, "b"), (1, "a")]
    assert t.resolve(1) is None and t.resolve(-5) is None and t.resolve(2**70) is None
    assert t.resolve(3) == "c" and len(t) == 0
    t.add(9, 5, "x")
    assert t.cancel_all() == [(9, "x")] and t.next_deadline == -1
