"""A small scriptable Open API server for the client tests that need exact control of the wire.

It speaks the real framing and envelope over a real socket on 127.0.0.1 (optionally TLS). Each request
is answered by a handler picked by the request's class; the default handlers answer the session and
subscription requests the way the vendor does. Tests replace handlers to script errors, silence or
interleaved events, and read ``received`` to see what the client sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ctrader_sdk import Backoff, ClientConfig, ReconnectPolicy, decode_envelope, encode_envelope, encode_frame
from ctrader_sdk._framing import FrameDecoder
from ctrader_sdk._wire import Message
from ctrader_sdk.messages import (
    ProtoOAAccountAuthReq,
    ProtoOAAccountAuthRes,
    ProtoOAApplicationAuthReq,
    ProtoOAApplicationAuthRes,
    ProtoOASubscribeDepthQuotesReq,
    ProtoOASubscribeDepthQuotesRes,
    ProtoOASubscribeLiveTrendbarReq,
    ProtoOASubscribeLiveTrendbarRes,
    ProtoOASubscribeSpotsReq,
    ProtoOASubscribeSpotsRes,
    ProtoOAUnsubscribeSpotsReq,
    ProtoOAUnsubscribeSpotsRes,
    ProtoOAv1PnLChangeSubscribeReq,
    ProtoOAv1PnLChangeSubscribeRes,
    ProtoOAVersionReq,
    ProtoOAVersionRes,
)


@dataclass(eq=False)
class Peer:
    """One client connection as the server sees it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    received: list[tuple[Message, str | None]] = field(default_factory=list)

    def send(self, message: Message, client_msg_id: str | None = None) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode_frame(encode_envelope(message, client_msg_id)))

    def send_raw(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def drop(self) -> None:
        """Reset the connection abruptly, as a crashed proxy would."""
        self.writer.transport.abort()


#: A handler answers one request: it gets the peer, the request and its clientMsgId.
Handler = Callable[[Peer, Any, "str | None"], "Awaitable[None] | None"]


def _reply(response: Callable[[Any], Message]) -> Handler:
    def handle(peer: Peer, request: Any, msg_id: str | None) -> None:
        peer.send(response(request), msg_id)

    return handle


DEFAULT_HANDLERS: dict[type[Message], Handler] = {
    ProtoOAApplicationAuthReq: _reply(lambda r: ProtoOAApplicationAuthRes()),
    ProtoOAAccountAuthReq: _reply(
        lambda r: ProtoOAAccountAuthRes(ctid_trader_account_id=r.ctid_trader_account_id)
    ),
    ProtoOAVersionReq: _reply(lambda r: ProtoOAVersionRes(version="fake-1")),
    ProtoOASubscribeSpotsReq: _reply(
        lambda r: ProtoOASubscribeSpotsRes(ctid_trader_account_id=r.ctid_trader_account_id)
    ),
    ProtoOAUnsubscribeSpotsReq: _reply(
        lambda r: ProtoOAUnsubscribeSpotsRes(ctid_trader_account_id=r.ctid_trader_account_id)
    ),
    ProtoOASubscribeLiveTrendbarReq: _reply(
        lambda r: ProtoOASubscribeLiveTrendbarRes(ctid_trader_account_id=r.ctid_trader_account_id)
    ),
    ProtoOASubscribeDepthQuotesReq: _reply(
        lambda r: ProtoOASubscribeDepthQuotesRes(ctid_trader_account_id=r.ctid_trader_account_id)
    ),
    ProtoOAv1PnLChangeSubscribeReq: _reply(
        lambda r: ProtoOAv1PnLChangeSubscribeRes(ctid_trader_account_id=r.ctid_trader_account_id)
    ),
}


class FakeServer:
    """Scriptable server; use as ``async with FakeServer() as server``.

    Attributes:
        handlers: request class → handler; a request without handler gets no answer.
        peers: connections accepted so far, in order (closed ones included).
        connected: set each time a client connects (tests clear it to wait for the next one).
    """

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handlers: dict[type[Message], Handler] = dict(DEFAULT_HANDLERS)
        self.peers: list[Peer] = []
        self.connected = asyncio.Event()
        self.host = "127.0.0.1"
        self.port = 0
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> FakeServer:
        self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for peer in self.peers:
            peer.writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        await self._server.wait_closed()

    @property
    def peer(self) -> Peer:
        """The latest connection."""
        return self.peers[-1]

    def received(self, cls: type[Message] | None = None) -> list[Message]:
        """Every message received on every connection (of class ``cls`` if given), in order."""
        return [m for p in self.peers for m, _ in p.received if cls is None or type(m) is cls]

    async def wait_for_peers(self, count: int, timeout: float = 10.0) -> Peer:
        async def wait() -> None:
            while len(self.peers) < count:
                self.connected.clear()
                await self.connected.wait()

        await asyncio.wait_for(wait(), timeout)
        return self.peers[count - 1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = Peer(reader, writer)
        self.peers.append(peer)
        self.connected.set()
        decoder = FrameDecoder()
        try:
            while data := await reader.read(65536):
                for body in decoder.feed(data):
                    envelope = decode_envelope(body)
                    message = envelope.message
                    assert isinstance(message, Message)
                    peer.received.append((message, envelope.client_msg_id))
                    handler = self.handlers.get(type(message))
                    if handler is not None:
                        result = handler(peer, message, envelope.client_msg_id)
                        if result is not None:
                            await result
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()
            self._tasks.discard(task)


#: Quick reconnection, so tests that drop connections stay fast.
FAST_RECONNECT = ReconnectPolicy(backoff=Backoff(0.01, 0.05))


def fast_config(**changes: object) -> ClientConfig:
    """A client config with quick reconnection and short timeouts; ``changes`` override fields."""
    base = ClientConfig(request_timeout=5.0, connect_timeout=5.0, reconnect=FAST_RECONNECT)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds, polling every few milliseconds (test helper only)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)
