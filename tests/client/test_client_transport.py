"""The stream layer on its own: the TCP stream in pull and push mode, back-pressure, timeouts, the
in-memory pipe, and the send path's frame encoder against the reference envelope encoder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ctrader_sdk import CTraderTimeoutError, encode_envelope, encode_frame
from ctrader_sdk._client import _frame
from ctrader_sdk._transport import PushStream, TCPStream, memory_pipe, open_tcp_stream
from ctrader_sdk.messages import (
    ProtoHeartbeatEvent,
    ProtoOAGetTrendbarsReq,
    ProtoOASubscribeSpotsReq,
    ProtoOATrendbarPeriod,
    ProtoOAVersionReq,
)


class RawServer:
    """Accepts one connection and lets the test drive it."""

    def __init__(self) -> None:
        self.accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.get_running_loop().create_future()
        )
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.set_result((reader, writer))

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._on_client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.accepted.done():
            self.accepted.result()[1].transport.abort()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    server = RawServer()
    await server.start()
    yield server
    await server.stop()


async def connect(raw: RawServer, limit: int = 1 << 16) -> TCPStream:
    return await open_tcp_stream("127.0.0.1", raw.port, ssl=None, timeout=5, buffer_limit=limit)


async def test_pull_mode_reads_everything_with_reading_paused_above_the_limit(raw: RawServer) -> None:
    stream = await connect(raw, limit=4096)
    assert isinstance(stream, PushStream)
    _, writer = await raw.accepted
    payload = bytes(range(256)) * 4096  # 1 MiB
    writer.write(payload)
    await writer.drain()
    await asyncio.sleep(0.05)
    assert stream._reading_paused  # the socket is not read while 4 KiB wait unread
    got = bytearray()
    while len(got) < len(payload):
        got += await stream.read(10_000)
    assert got == payload
    writer.close()
    assert await stream.read(100) == b""  # end of stream
    await stream.aclose()
    await stream.aclose()  # idempotent


async def test_push_mode_delivers_buffered_bytes_first_then_the_end(raw: RawServer) -> None:
    stream = await connect(raw)
    _, writer = await raw.accepted
    writer.write(b"early")
    await asyncio.sleep(0.05)
    chunks: list[bytes] = []
    ended: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
    stream.start_reading(chunks.append, ended.set_result)
    writer.write(b"-late")
    await asyncio.sleep(0.05)
    writer.close()
    assert await asyncio.wait_for(ended, 2) is None
    assert b"".join(chunks) == b"early-late"
    await stream.aclose()


async def test_push_mode_on_a_stream_that_already_ended(raw: RawServer) -> None:
    stream = await connect(raw)
    _, writer = await raw.accepted
    writer.write(b"last words")
    writer.close()
    await asyncio.sleep(0.05)
    chunks: list[bytes] = []
    ends: list[Exception | None] = []
    stream.start_reading(chunks.append, ends.append)
    assert chunks == [b"last words"] and ends == [None]
    with pytest.raises(ConnectionResetError):
        stream.write(b"x")
    await stream.aclose()


async def test_drain_waits_for_a_slow_peer_and_fails_when_it_goes(raw: RawServer) -> None:
    stream = await connect(raw)
    _, writer = await raw.accepted
    stream.write(b"x" * (16 << 20))  # far above the socket buffers: the peer does not read
    drained = asyncio.ensure_future(stream.drain())
    await asyncio.sleep(0.1)
    assert not drained.done()
    writer.transport.abort()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(drained, 2)
    await stream.aclose()


async def test_drain_resumes_when_the_peer_reads(raw: RawServer) -> None:
    stream = await connect(raw)
    reader, _ = await raw.accepted
    size = 16 << 20
    stream.write(b"y" * size)
    drained = asyncio.ensure_future(stream.drain())
    await asyncio.sleep(0.05)
    assert not drained.done()
    received = 0
    while received < size:
        received += len(await reader.read(1 << 20))
    await asyncio.wait_for(drained, 2)
    await stream.aclose()


async def test_drain_returns_at_once_when_the_buffer_is_low(raw: RawServer) -> None:
    stream = await connect(raw)
    reader, _ = await raw.accepted
    stream.write(b"hello")
    await stream.drain()
    assert await reader.readexactly(5) == b"hello"
    await stream.aclose()


async def test_handshake_that_never_completes_times_out(raw: RawServer) -> None:
    import ssl

    with pytest.raises(CTraderTimeoutError):  # a plain server never answers the TLS hello
        await open_tcp_stream(
            "127.0.0.1", raw.port, ssl=ssl.create_default_context(), timeout=0.2, buffer_limit=1024
        )


async def test_memory_pipe() -> None:
    a, b = memory_pipe()
    a.write(b"ping")
    await a.drain()
    assert await b.read(2) == b"pi"
    assert await b.read(100) == b"ng"
    reading = asyncio.ensure_future(b.read(10))
    await asyncio.sleep(0)
    await a.aclose()
    assert await reading == b""
    with pytest.raises(ConnectionResetError):
        b.write(b"to nobody")
    await b.aclose()
    assert await a.read(10) == b""


@pytest.mark.parametrize(
    ("message", "msg_id"),
    [
        (ProtoOAVersionReq(), "1"),
        (ProtoHeartbeatEvent(), "probe-12"),
        (
            ProtoOAGetTrendbarsReq(
                ctid_trader_account_id=2**40, period=ProtoOATrendbarPeriod.D1, symbol_id=7, from_timestamp=0
            ),
            "123456789",
        ),
        (ProtoOASubscribeSpotsReq(ctid_trader_account_id=1, symbol_id=list(range(5000))), "x" * 300),
    ],
)
def test_send_path_frames_match_the_reference_encoder(message: ProtoOAVersionReq, msg_id: str) -> None:
    assert _frame(message, msg_id) == encode_frame(encode_envelope(message, msg_id))
