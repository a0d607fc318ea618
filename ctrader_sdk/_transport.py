"""The byte-stream layer under the client: a narrow interface and its implementations.

The client only reads chunks, writes bytes and closes, so anything implementing :class:`Stream` can
carry a session:

* :func:`open_tcp_stream`: TCP, with TLS verified by default, for the real proxies;
* :class:`AsyncioStream`: any asyncio ``StreamReader``/``StreamWriter`` pair (e.g. a socket pair to an
  in-process server);
* :func:`memory_pipe`: a client and a server in one process without a socket.

A stream may also offer :class:`PushStream`'s ``start_reading``: the event loop then hands each chunk
straight to the client as it arrives, instead of a reader task waking up to ``read`` it. The TCP
stream does, which saves a task switch per chunk on the receive path.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeAlias, runtime_checkable

from ctrader_sdk._config import CLOSE_TIMEOUT
from ctrader_sdk._exceptions import CTraderConnectionError, CTraderTimeoutError

__all__ = [
    "AsyncioStream",
    "MemoryStream",
    "PushStream",
    "SSLOption",
    "Stream",
    "StreamFactory",
    "TCPStream",
    "memory_pipe",
    "open_tcp_stream",
    "resolve_ssl",
]

#: What ``ssl=`` accepts: a context, True for the system's verified default, False/None for plain TCP.
SSLOption: TypeAlias = _ssl.SSLContext | bool | None


class Stream(Protocol):
    """A connected, ordered, reliable byte stream (TCP, TLS or an in-memory pipe).

    Writing is split in two so a sender never suspends needlessly: :meth:`write` queues the bytes at
    once and :meth:`drain` applies back-pressure only when the buffer is full.
    """

    async def read(self, max_bytes: int) -> bytes:
        """Return the next bytes available, at most ``max_bytes``, waiting for at least one.

        Returns ``b""`` once the peer closed its side.

        Raises:
            OSError: the connection failed.
        """
        ...

    def write(self, data: bytes) -> None:
        """Queue ``data`` for sending now, without waiting.

        Raises:
            OSError: the connection is closed or failed.
        """
        ...

    async def drain(self) -> None:
        """Wait while the send buffer is above its high-water mark; return at once when it is not.

        Raises:
            OSError: the connection failed while waiting.
        """
        ...

    async def aclose(self) -> None:
        """Close the stream; a pending :meth:`read` returns ``b""`` or raises. Idempotent."""
        ...


@runtime_checkable
class PushStream(Stream, Protocol):
    """A :class:`Stream` that can also deliver what it receives through callbacks."""

    def start_reading(
        self, on_data: Callable[[bytes], None], on_close: Callable[[Exception | None], None]
    ) -> None:
        """From now on, call ``on_data(chunk)`` for every chunk received, in order (bytes already
        buffered first), then ``on_close(error)`` once when the stream ends (``None`` for a clean end
        of stream). :meth:`Stream.read` must not be used afterwards. Callbacks run in the event loop
        and must not block."""
        ...


#: A zero-argument coroutine function that opens a new :class:`Stream` (called again on each reconnect).
StreamFactory = Callable[[], Awaitable[Stream]]


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class AsyncioStream:
    """:class:`Stream` over an asyncio ``StreamReader``/``StreamWriter`` pair."""

    __slots__ = ("_closed", "_high_water", "_reader", "_transport", "_writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._transport = writer.transport
        self._high_water = writer.transport.get_write_buffer_limits()[1]
        self._closed = False

    async def read(self, max_bytes: int) -> bytes:
        return await self._reader.read(max_bytes)

    def write(self, data: bytes) -> None:
        if self._closed or self._transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        self._transport.write(data)

    async def drain(self) -> None:
        if self._transport.get_write_buffer_size() > self._high_water:
            await self._writer.drain()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        writer = self._writer
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            # A peer that does not answer the TLS close, or a reset: drop the socket outright.
            writer.transport.abort()
        except asyncio.CancelledError:
            writer.transport.abort()
            raise


class TCPStream(asyncio.Protocol):
    """A TCP (or TLS) connection as a :class:`PushStream`; made by :func:`open_tcp_stream`.

    In pull mode (:meth:`read`), reading from the socket pauses while more than ``buffer_limit`` bytes
    wait to be read. In push mode (:meth:`start_reading`) each chunk goes to the callback as the event
    loop receives it, so nothing accumulates here.
    """

    def __init__(self, buffer_limit: int) -> None:
        self._limit = buffer_limit
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._read_waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._eof = False
        self._error: Exception | None = None
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._write_paused = False
        self._drain_waiters: deque[asyncio.Future[None]] = deque()
        self._on_data: Callable[[bytes], None] | None = None
        self._on_close: Callable[[Exception | None], None] | None = None

    # -- asyncio.Protocol callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        on_data = self._on_data
        if on_data is not None:
            on_data(data)
            return
        self._buffer += data
        if len(self._buffer) > self._limit and not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()
        _wake(self._read_waiter)

    def eof_received(self) -> bool:
        self._eof = True
        _wake(self._read_waiter)
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._error = exc
        _wake(self._read_waiter)
        while self._drain_waiters:
            _wake(self._drain_waiters.popleft())
        _wake(self._closed)
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            self._on_data = None
            on_close(exc)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        while self._drain_waiters:
            _wake(self._drain_waiters.popleft())

    # -- Stream -----------------------------------------------------------------------------------

    async def read(self, max_bytes: int) -> bytes:
        while not self._buffer:
            if self._error is not None:
                raise self._error
            if self._eof:
                return b""
            waiter = self._read_waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._read_waiter = None
        data = bytes(self._buffer[:max_bytes])
        del self._buffer[:max_bytes]
        if self._reading_paused and len(self._buffer) <= self._limit and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()
        return data

    def start_reading(
        self, on_data: Callable[[bytes], None], on_close: Callable[[Exception | None], None]
    ) -> None:
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            on_data(data)
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()
        if self._closed.done():
            on_close(self._error)
            return
        self._on_data = on_data
        self._on_close = on_close

    def write(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        transport.write(data)

    async def drain(self) -> None:
        if not self._write_paused:
            return
        if self._closed.done():
            raise ConnectionResetError("the connection is closed")
        waiter = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(waiter)
        await waiter
        if self._closed.done():
            raise ConnectionResetError("the connection was lost while sending")

    async def aclose(self) -> None:
        transport = self._transport
        if transport is None:
            return
        if not transport.is_closing():
            transport.close()
        if self._closed.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._closed), CLOSE_TIMEOUT)
        except asyncio.TimeoutError:
            # A peer that does not answer the TLS close: drop the socket outright.
            transport.abort()
        except asyncio.CancelledError:
            transport.abort()
            raise


def resolve_ssl(ssl: SSLOption) -> _ssl.SSLContext | None:
    """Turn an ``ssl=`` option into a context: True → a verifying default context, False/None → none.

    There is no option that silently disables certificate checks: a caller who wants that builds the
    context themselves.
    """
    if ssl is True:
        return _ssl.create_default_context()
    if ssl is False or ssl is None:
        return None
    if isinstance(ssl, _ssl.SSLContext):
        return ssl
    raise TypeError(f"ssl must be an ssl.SSLContext, True, False or None, not {type(ssl).__name__}")


async def open_tcp_stream(
    host: str,
    port: int,
    *,
    ssl: _ssl.SSLContext | None,
    timeout: float,
    buffer_limit: int,
) -> TCPStream:
    """Connect to ``host:port``, with TLS when ``ssl`` is a context (the host name is verified).

    Args:
        host: host name or address; with TLS, the certificate must name it.
        port: TCP port.
        ssl: the TLS context, or None for plain TCP.
        timeout: seconds for the TCP connection and the TLS handshake together.
        buffer_limit: in pull mode, bytes buffered before reading from the socket pauses.

    Raises:
        CTraderConnectionError: the connection or the handshake failed (the cause is chained; a
            certificate that does not verify is an ``ssl.SSLCertVerificationError``).
        CTraderTimeoutError: no connection within ``timeout``.
    """
    loop = asyncio.get_running_loop()
    try:
        _, stream = await asyncio.wait_for(
            loop.create_connection(lambda: TCPStream(buffer_limit), host, port, ssl=ssl), timeout
        )
    except asyncio.TimeoutError:
        raise CTraderTimeoutError(f"no connection to {host}:{port} within {timeout} s") from None
    except OSError as exc:
        raise CTraderConnectionError(f"cannot connect to {host}:{port}: {exc}") from exc
    return stream


class MemoryStream:
    """One end of an in-memory :func:`memory_pipe`; behaves like a socket without one.

    Writes never block (the pipe is unbounded, :meth:`drain` returns at once); :meth:`aclose` ends
    the peer's reads with ``b""``.
    """

    __slots__ = ("_buffer", "_closed", "_eof", "_peer", "_waiter")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._eof = False
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._peer: MemoryStream | None = None

    async def read(self, max_bytes: int) -> bytes:
        while not self._buffer:
            if self._eof or self._closed:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = bytes(self._buffer[:max_bytes])
        del self._buffer[:max_bytes]
        return data

    def write(self, data: bytes) -> None:
        peer = self._peer
        if self._closed or peer is None or peer._closed:
            raise ConnectionResetError("the pipe is closed")
        peer._buffer += data
        _wake(peer._waiter)

    async def drain(self) -> None:
        return None

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        _wake(self._waiter)
        peer = self._peer
        if peer is not None:
            peer._eof = True
            _wake(peer._waiter)


def memory_pipe() -> tuple[MemoryStream, MemoryStream]:
    """Two connected in-memory streams: what one writes, the other reads."""
    a, b = MemoryStream(), MemoryStream()
    a._peer, b._peer = b, a
    return a, b
