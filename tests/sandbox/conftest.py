"""A tiny raw client for the sandbox tests, built on the SDK's framing and envelope only.

It does not depend on the SDK client: it writes frames with ``encode_frame(encode_envelope(...))``
and reads them with ``FrameDecoder`` + ``decode_envelope``, keeping every received envelope so a
test can wait for the answer to a request (by client message id) or for an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest

from ctrader_sdk._envelope import Envelope, decode_envelope, encode_envelope
from ctrader_sdk._framing import FrameDecoder, encode_frame
from ctrader_sdk._wire import Message
from ctrader_sdk.messages import (
    ProtoOAAccountAuthReq,
    ProtoOAApplicationAuthReq,
    ProtoOAErrorRes,
)
from ctrader_sdk.sandbox import Sandbox, SandboxConfig

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"
ACCESS_TOKEN = "sandbox-token"
DEMO = 100001
DEMO_EUR = 100002
LIVE = 100003
EURUSD, USDJPY, XAUUSD, US500 = 1, 4, 41, 100

M = TypeVar("M", bound=Message)


class RawClient:
    """A minimal Open API client: send messages, wait for answers and events."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder()
        self.inbox: list[Envelope] = []
        self.failure: BaseException | None = None
        self.eof = asyncio.Event()
        self._new = asyncio.Event()
        self._ids = itertools.count(1)
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    return
                for body in self.decoder.feed(data):
                    self.inbox.append(decode_envelope(body))
                self._new.set()
        except Exception as exc:  # kept for the test to assert on
            self.failure = exc
        finally:
            self.eof.set()
            self._new.set()

    def send(self, message: Message, client_msg_id: str | None = None) -> None:
        """Write one message."""
        self.writer.write(encode_frame(encode_envelope(message, client_msg_id)))

    def write_raw(self, data: bytes) -> None:
        """Write raw bytes."""
        self.writer.write(data)

    async def expect(self, predicate: Callable[[Envelope], bool], timeout: float = 5.0) -> Envelope:
        """Remove and return the first received envelope matching ``predicate`` (waiting for it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, envelope in enumerate(self.inbox):
                if predicate(envelope):
                    return self.inbox.pop(i)
            if self.eof.is_set():
                raise AssertionError(
                    f"connection closed; received {self.kinds()} (failure: {self.failure!r})"
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"nothing matched within {timeout} s; received {self.kinds()}")
            self._new.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._new.wait(), remaining)

    async def event(self, cls: type[M], timeout: float = 5.0, **fields: Any) -> M:
        """The next received event (no client message id) of ``cls`` whose fields equal ``fields``."""

        def match(e: Envelope) -> bool:
            return (
                e.client_msg_id is None
                and isinstance(e.message, cls)
                and all(getattr(e.message, k) == v for k, v in fields.items())
            )

        envelope = await self.expect(match, timeout)
        assert isinstance(envelope.message, cls)
        return envelope.message

    async def answer(self, client_msg_id: str, timeout: float = 5.0) -> Message:
        """The next message answering ``client_msg_id``."""
        envelope = await self.expect(lambda e: e.client_msg_id == client_msg_id, timeout)
        assert isinstance(envelope.message, Message), envelope
        return envelope.message

    async def request(self, message: Message, timeout: float = 5.0) -> Message:
        """Send ``message`` with a fresh client message id and return its first answer."""
        client_msg_id = f"req-{next(self._ids)}"
        self.send(message, client_msg_id)
        return await self.answer(client_msg_id, timeout)

    async def ok(self, message: Message, expected: type[M], timeout: float = 5.0) -> M:
        """:meth:`request`, asserting the answer is of type ``expected``."""
        answer = await self.request(message, timeout)
        assert isinstance(answer, expected), answer
        return answer

    async def error(self, message: Message, timeout: float = 5.0) -> ProtoOAErrorRes:
        """:meth:`request`, asserting the answer is ``ProtoOAErrorRes``."""
        return await self.ok(message, ProtoOAErrorRes, timeout)

    def kinds(self) -> list[str]:
        """Names of the messages received and not yet consumed (for assertion messages)."""
        return [type(e.message).__name__ for e in self.inbox]

    def drop(self, cls: type[Message]) -> int:
        """Forget every received ``cls`` message; returns how many."""
        before = len(self.inbox)
        self.inbox = [e for e in self.inbox if not isinstance(e.message, cls)]
        return before - len(self.inbox)

    async def login(self, *account_ids: int) -> None:
        """Authenticate the application and authorise ``account_ids``."""
        await self.ok(
            ProtoOAApplicationAuthReq(client_id=CLIENT_ID, client_secret=CLIENT_SECRET),
            ProtoOAApplicationAuthReq.RESPONSE_TYPE,
        )
        for account_id in account_ids:
            await self.ok(
                ProtoOAAccountAuthReq(ctid_trader_account_id=account_id, access_token=ACCESS_TOKEN),
                ProtoOAAccountAuthReq.RESPONSE_TYPE,
            )

    async def close(self) -> None:
        """Close the connection and stop reading."""
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


Connect = Callable[..., Awaitable[RawClient]]
MakeSandbox = Callable[..., Awaitable[Sandbox]]


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """A plain sandbox with the default configuration (seed 42)."""
    async with Sandbox(SandboxConfig()) as sb:
        yield sb


@pytest.fixture
async def make_sandbox() -> AsyncIterator[MakeSandbox]:
    """Start sandboxes with custom configurations; all stopped at teardown."""
    started: list[Sandbox] = []

    async def make(**config: Any) -> Sandbox:
        sb = Sandbox(SandboxConfig(**config))
        await sb.start()
        started.append(sb)
        return sb

    yield make
    for sb in started:
        await sb.stop()


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Open raw clients to a sandbox (TLS when it serves TLS); all closed at teardown."""
    clients: list[RawClient] = []

    async def open_client(
        sb: Sandbox, *, login: tuple[int, ...] | None = None, host: str | None = None
    ) -> RawClient:
        if sb.config.tls:
            reader, writer = await asyncio.open_connection(host or sb.host, sb.port, ssl=sb.ssl_context())
        else:
            reader, writer = await asyncio.open_connection(host or sb.host, sb.port)
        client = RawClient(reader, writer)
        clients.append(client)
        if login is not None:
            await client.login(*login)
        return client

    yield open_client
    for client in clients:
        await client.close()
