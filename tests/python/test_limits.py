"""Limits exposed as options, each crossed from both sides (frame size,
fragment count, handshake head line / size / header count), and streaming
receive of big messages (recv_streaming, Handler.on_fragment)."""

import asyncio
import hashlib
import os
import random
import string

import pytest

import wskit
from helpers import port_of, wskit_echo, wskit_server
from wskit.exceptions import ConnectionClosedError

pytestmark = pytest.mark.timeout(30)


async def closed_with(ws):
    with pytest.raises(ConnectionClosedError) as info:
        await asyncio.wait_for(ws.recv(), 10)
    return info.value


async def test_max_frame_size_on_the_server():
    async with wskit_server(max_frame_size=1000) as (server, url):
        async with wskit.connect(url, compression=None) as ws:
            await ws.send(["a" * 1000, "b" * 1000, "c" * 1000])  # three frames: fine
            assert await ws.recv() == "a" * 1000 + "b" * 1000 + "c" * 1000
            await ws.send("x" * 1001)  # one frame over the limit
            exc = await closed_with(ws)
            assert exc.code == 1009
    with pytest.raises(ValueError):
        wskit.serve(wskit_echo, max_frame_size=0)


async def test_max_frame_size_on_the_client():
    async def big(ws):
        await ws.send(b"z" * 5000)
        await ws.wait_closed()

    async with wskit_server(big, compression=None) as (server, url):
        async with wskit.connect(url, max_frame_size=4096) as ws:
            exc = await closed_with(ws)
            assert exc.sent_code == 1009 and isinstance(exc.__cause__, wskit.PayloadTooBig)
            assert "frame of 5000 bytes" in str(exc.__cause__)


async def test_max_frame_size_without_a_message_limit():
    async with wskit_server(max_size=None, max_frame_size=65536) as (server, url):
        async with wskit.connect(url, max_size=None, compression=None) as ws:
            await ws.send([b"p" * 65536] * 40)  # 2.5 MB in allowed frames
            assert len(await ws.recv()) == 65536 * 40
            await ws.send(b"q" * 65537)
            assert (await closed_with(ws)).code == 1009


async def test_max_fragments_both_sides():
    async with wskit_server(max_fragments=4) as (server, url):
        async with wskit.connect(url) as ws:
            await ws.send(["1", "2", "3", "4"])
            assert await ws.recv() == "1234"
            await ws.send(["1", "2", "3", "4", "5"])
            assert (await closed_with(ws)).code == 1009

    async def fragmented(ws):
        await ws.send([b"x"] * 10)
        await ws.wait_closed()

    async with wskit_server(fragmented) as (server, url):
        async with wskit.connect(url, max_fragments=9) as ws:
            assert (await closed_with(ws)).sent_code == 1009


async def test_handshake_head_limits_on_the_server():
    async with wskit_server(max_line_size=1024, max_head_size=4096,
                            max_headers=20) as (server, url):
        for headers in ([("X-Long", "v" * 1100)],                        # one line too long
                        [(f"X-H{i}", "v" * 800) for i in range(5)],       # the head too big
                        [(f"X-N{i}", "v") for i in range(20)]):           # too many headers
            with pytest.raises(wskit.InvalidStatus) as info:
                await wskit.connect(url, additional_headers=headers)
            assert info.value.response.status == 431
        async with wskit.connect(url, additional_headers=[("X-Fine", "v" * 900)]) as ws:
            await ws.send("ok")
            assert await ws.recv() == "ok"


async def test_handshake_head_limits_on_the_client():
    async def answer(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\n"
                     + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"v" * 100) for i in range(30))
                     + b"\r\n")
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    raw = await asyncio.start_server(answer, "127.0.0.1", 0)
    url = f"ws://127.0.0.1:{port_of(raw)}/"
    try:
        for limits in (dict(max_headers=10), dict(max_head_size=2048),
                       dict(max_line_size=64)):
            with pytest.raises(wskit.InvalidHandshake) as info:
                await wskit.connect(url, open_timeout=5, **limits)
            assert not isinstance(info.value, wskit.InvalidStatus)
    finally:
        raw.close()
        await raw.wait_closed()


# ---- streaming ----


def summary(pieces):
    kinds = {type(p) for p in pieces}
    joined = ("" if str in kinds else b"").join(pieces)
    data = joined.encode() if isinstance(joined, str) else joined
    return f"{len(pieces)}:{len(joined)}:{hashlib.sha256(data).hexdigest()}:{kinds == {str}}"


async def streamer(ws):
    # answers each message with how it arrived: pieces, length, hash, text?
    while True:
        pieces = [p async for p in ws.recv_streaming()]
        await ws.send(summary(pieces))


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_recv_streaming_hands_out_big_messages_in_pieces(compression):
    async with wskit_server(streamer, streaming=True, max_size=None,
                            compression=compression) as (server, url):
        async with wskit.connect(url, compression=compression) as ws:
            blob = os.urandom(3 << 20)
            # characters of 1 to 4 bytes, random enough not to deflate into one read
            text = "".join(random.Random(7).choices("aé€😀" + string.printable, k=1 << 20))
            for message in (blob, text):
                await ws.send(message)
                n, length, digest, is_text = (await ws.recv()).split(":")
                assert int(n) > 1  # it came in pieces, not whole
                assert int(length) == len(message)
                data = message.encode() if isinstance(message, str) else message
                assert digest == hashlib.sha256(data).hexdigest()
                assert is_text == str(isinstance(message, str))
            # a message that arrives whole is one piece
            await ws.send("small")
            assert (await ws.recv()).startswith("1:5:")
            # so is a fragmented one that arrived in one read... or several
            await ws.send(["frag", "mented"])
            assert (await ws.recv()).split(":")[1] == "10"


async def test_recv_joins_streamed_messages_and_loses_nothing_when_cancelled():
    got = asyncio.get_running_loop().create_future()

    async def impatient(ws):
        while True:  # recv() cancelled again and again in the middle of the message
            try:
                message = await asyncio.wait_for(ws.recv(), 0.0005)
                break
            except asyncio.TimeoutError:
                pass
        got.set_result(message)
        await ws.wait_closed()

    message = os.urandom(4 << 20)
    async with wskit_server(impatient, streaming=True, max_size=None,
                            compression=None) as (server, url):
        async with wskit.connect(url, compression=None) as ws:
            await ws.send(message)
            assert await asyncio.wait_for(got, 20) == message


async def test_streaming_pauses_reading_for_a_slow_consumer():
    consumed = asyncio.get_running_loop().create_future()
    proceed = asyncio.Event()

    async def slow(ws):
        await proceed.wait()
        total = 0
        async for piece in ws.recv_streaming():
            total += len(piece)
        consumed.set_result(total)
        await ws.wait_closed()

    async with wskit_server(slow, streaming=True, max_size=None, max_queue=4,
                            compression=None) as (server, url):
        async with wskit.connect(url, compression=None) as ws:
            send = asyncio.ensure_future(ws.send(os.urandom(16 << 20)))
            (conn,) = server.connections
            for _ in range(1000):  # (under a sanitizer this takes a while)
                if conn._reading_paused:
                    break
                await asyncio.sleep(0.01)
            assert conn._reading_paused  # pieces are not piling up in memory
            await asyncio.sleep(0.1)
            assert conn._reading_paused and conn._pieces <= 4
            proceed.set()
            assert await asyncio.wait_for(consumed, 20) == 16 << 20
            await send


async def test_max_size_still_applies_when_streaming():
    async with wskit_server(streamer, streaming=True, max_size=100000) as (server, url):
        async with wskit.connect(url, compression=None) as ws:
            await ws.send(b"x" * 100001)
            assert (await closed_with(ws)).code == 1009


async def test_message_cut_short_by_a_disconnect():
    outcome = asyncio.get_running_loop().create_future()

    async def reader(ws):
        pieces = []
        try:
            async for piece in ws.recv_streaming():
                pieces.append(piece)
        except ConnectionClosedError as exc:
            outcome.set_result((b"".join(pieces), exc.code))

    async def chunks():
        yield b"first piece"
        yield b"second"  # (a piece goes out once the next is known)
        await asyncio.sleep(10)  # never comes: the client aborts meanwhile

    async with wskit_server(reader, streaming=True) as (server, url):
        ws = await wskit.connect(url)
        send = asyncio.ensure_future(ws.send(chunks()))
        await asyncio.sleep(0.1)
        ws._abort()
        data, code = await asyncio.wait_for(outcome, 5)
        assert data == b"first piece" and code == 1006
        send.cancel()
        await asyncio.gather(send, return_exceptions=True)


class Pieces(wskit.Handler):
    def on_fragment(self, data, first, fin):
        if first:
            self.count = 0
        self.count += 1
        super().on_fragment(data, first, fin)

    def on_message(self, message):
        self.send(f"{getattr(self, 'count', 0)}:{len(message)}")
        self.count = 0


async def test_handler_streaming_joins_pieces_by_default():
    async with wskit_server(Pieces, streaming=True, max_size=None,
                            compression=None) as (server, url):
        async with wskit.connect(url, compression=None) as ws:
            await ws.send(b"b" * (2 << 20))
            n, length = (await ws.recv()).split(":")
            assert int(n) > 1 and int(length) == 2 << 20
            await ws.send("tiny")
            assert await ws.recv() == "0:4"  # arrived whole: straight to on_message


async def test_recv_streaming_without_streaming_yields_whole_messages():
    async with wskit_server() as (server, url):
        async with wskit.connect(url) as ws:
            await ws.send("whole")
            assert [p async for p in ws.recv_streaming()] == ["whole"]
            await ws.close()
            with pytest.raises(wskit.ConnectionClosedOK):
                async for _ in ws.recv_streaming():
                    pass
