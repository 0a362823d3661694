"""The callback style (wskit.Handler) on both sides, and what happens when
a callback raises."""

import asyncio

import pytest

import wskit
from helpers import wskit_echo, wskit_server
from wskit.exceptions import ConnectionClosedError


class Echo(wskit.Handler):
    def on_message(self, message):
        self.send(message)


class Recorder(wskit.Handler):
    """Collects what it receives; done resolves on close."""

    def __init__(self):
        self.messages = []
        self.pongs = []
        self.events = []
        self.done = asyncio.get_running_loop().create_future()

    def on_open(self):
        self.events.append("open")

    def on_message(self, message):
        self.messages.append(message)

    def on_pong(self, data, ping_id, latency):
        self.pongs.append((ping_id, latency))

    def on_close(self, code, reason):
        self.events.append(("close", code, reason))
        self.done.set_result(None)


async def test_handler_server_with_awaitable_client():
    async with wskit_server(Echo) as (server, url):
        async with wskit.connect(url) as ws:
            for message in ("text", b"bytes", "x" * 200000, b""):
                await ws.send(message)
                assert await ws.recv() == message
            await ws.send(["frag", "ment"])
            assert await ws.recv() == "fragment"
            (conn,) = server.connections
            assert isinstance(conn, Echo)
            assert conn.handshake_request.path == "/"


async def test_handler_client_with_awaitable_server():
    async with wskit_server(wskit_echo) as (server, url):
        bot = await wskit.connect(url, protocol_class=Recorder)
        assert isinstance(bot, Recorder)
        assert bot.events == ["open"]
        assert bot.send("one") is False  # not over write_limit
        bot.send(b"two")
        bot.send_fragment("th", False)
        bot.send_fragment("ree", True)
        ping_id = bot.ping()
        while len(bot.messages) < 3 or not bot.pongs:
            await asyncio.sleep(0.01)
        assert bot.messages == ["one", b"two", "three"]
        assert bot.pongs[0][0] == ping_id
        bot.close(4100, "bot done")
        await bot.done
        assert bot.events[-1] == ("close", 4100, "")  # echoed code, no reason
        await bot.wait_closed()


async def test_handler_client_sees_server_close():
    async def closer(ws):
        await ws.close(4200, "bye bot")

    async with wskit_server(closer) as (server, url):
        bot = await wskit.connect(url, protocol_class=Recorder)
        await bot.done
        assert bot.events[-1] == ("close", 4200, "bye bot")


async def test_handler_exception_fails_the_connection(caplog):
    class Broken(wskit.Handler):
        def on_message(self, message):
            raise RuntimeError("callback bug")

    async with wskit_server(Broken) as (server, url):
        async with wskit.connect(url) as ws:
            await ws.send("boom")
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == 1011
    assert any("callback bug" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


async def test_handler_pause_reading_holds_messages():
    class Slow(Recorder):
        def on_message(self, message):
            self.messages.append(message)
            if len(self.messages) == 2:
                self.pause_reading()

    async def burst(ws):
        for i in range(50):
            await ws.send(str(i))
        await ws.wait_closed()

    async with wskit_server(burst) as (server, url):
        bot = await wskit.connect(url, protocol_class=Slow)
        await asyncio.sleep(0.2)
        assert bot.messages == ["0", "1"]
        bot.resume_reading()  # delivers the rest at once
        while len(bot.messages) < 50:
            await asyncio.sleep(0.01)
        assert bot.messages == [str(i) for i in range(50)]
        bot.close()
        await bot.done


async def test_handler_serve_with_protocol_class_keyword():
    async with wskit_server(None, protocol_class=Echo) as (server, url):
        async with wskit.connect(url) as ws:
            await ws.send("kw")
            assert await ws.recv() == "kw"


def test_serve_needs_a_handler():
    with pytest.raises(TypeError):
        wskit.serve(None, "127.0.0.1", 0)
