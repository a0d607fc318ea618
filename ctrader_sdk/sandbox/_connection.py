"""One client connection: framing, rate limits, heartbeats, sessions and subscriptions.

A :class:`Connection` reads frames with the sans-I/O :class:`~ctrader_sdk._framing.FrameDecoder`,
hands each request to the sandbox's dispatcher and writes answers and events. It owns what the
vendor keeps per connection: whether the application is authenticated, the trading accounts
authorised on it (:class:`AccountSession`, each with its subscriptions) and the rate limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ctrader_sdk._envelope import encode_envelope
from ctrader_sdk._exceptions import DecodeError, FrameTooLargeError
from ctrader_sdk._framing import FrameDecoder, encode_frame
from ctrader_sdk._wire import Message
from ctrader_sdk.messages import (
    ProtoErrorCode,
    ProtoErrorRes,
    ProtoHeartbeatEvent,
    ProtoMessage,
    ProtoOATrendbarPeriod,
)
from ctrader_sdk.sandbox._tokens import Token
from ctrader_sdk.sandbox._trading import Account

if TYPE_CHECKING:
    from ctrader_sdk.sandbox._server import Sandbox

__all__ = ["AccountSession", "Connection", "RateLimiter", "SpotSubscription"]

logger = logging.getLogger("ctrader_sdk.sandbox")

_READ_SIZE = 65536
_ids = itertools.count(1)


class RateLimiter:
    """The vendor's per-connection limits: ``limit`` requests in any one-second window, and
    ``historical_limit`` for the historical payload types.

    Args:
        limit: requests per second, all payload types.
        historical_limit: requests per second of ``historical_types``.
        historical_types: the payload types of the historical class.
    """

    WINDOW = 1.0

    def __init__(self, limit: int, historical_limit: int, historical_types: frozenset[int]) -> None:
        self._limit = limit
        self._historical_limit = historical_limit
        self._historical_types = historical_types
        self._all: deque[float] = deque()
        self._historical: deque[float] = deque()

    def check(self, payload_type: int, now: float) -> tuple[int, str] | None:
        """Admit a request at ``now`` (seconds), or refuse it.

        A refused request is not counted.

        Returns:
            ``None`` when admitted, else ``(retry after in whole seconds, description)``.
        """
        for window in (self._all, self._historical):
            while window and window[0] <= now - self.WINDOW:
                window.popleft()
        historical = payload_type in self._historical_types
        if historical and len(self._historical) >= self._historical_limit:
            wait = self._historical[0] + self.WINDOW - now
            text = f"historical data requests are limited to {self._historical_limit} per second"
            return max(1, math.ceil(wait)), text
        if len(self._all) >= self._limit:
            wait = self._all[0] + self.WINDOW - now
            return max(1, math.ceil(wait)), f"requests are limited to {self._limit} per second"
        self._all.append(now)
        if historical:
            self._historical.append(now)
        return None


@dataclass(slots=True)
class SpotSubscription:
    """One symbol's spot subscription and what was last sent for it.

    Attributes:
        timestamp: the client asked for ``timestamp`` in spot events (``subscribeToSpotTimestamp``).
        bid, ask: the last bid and ask sent (wire units), ``None`` before the first event.
    """

    timestamp: bool
    bid: int | None = None
    ask: int | None = None


@dataclass(slots=True)
class AccountSession:
    """A trading account authorised on a connection, and its subscriptions.

    Attributes:
        account: the shared account state.
        token: the access token the account was authorised with.
        ended: ``None`` while the session is active; the error code answered to its requests once
            the server ended it (token expired or refreshed away).
        spots: symbol id → spot subscription.
        trendbars: (symbol id, period) of live trendbar subscriptions.
        depth: symbol id → the depth book last sent (quote id → (size, bid, ask)).
        pnl: the (gross, net) unrealized PnL last sent; ``None`` when not subscribed.
    """

    account: Account
    token: Token
    ended: str | None = None
    spots: dict[int, SpotSubscription] = field(default_factory=dict)
    trendbars: set[tuple[int, ProtoOATrendbarPeriod]] = field(default_factory=set)
    depth: dict[int, dict[int, tuple[int, int | None, int | None]]] = field(default_factory=dict)
    pnl: tuple[int, int] | None = None
    pnl_subscribed: bool = False

    @property
    def active(self) -> bool:
        """Whether the session may be used and receives events."""
        return self.ended is None

    def end(self, code: str) -> None:
        """End the session on the server side; its subscriptions are gone."""
        self.ended = code
        self.spots.clear()
        self.trendbars.clear()
        self.depth.clear()
        self.pnl = None
        self.pnl_subscribed = False


class Connection:
    """A client connection to the sandbox.

    Args:
        sandbox: the server it belongs to (config, dispatcher, faults, stats, registry).
        reader, writer: the connection's streams.
    """

    def __init__(self, sandbox: Sandbox, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        config = sandbox.config
        self.id = next(_ids)
        self.sandbox = sandbox
        self._reader = reader
        self._writer = writer
        self._decoder = FrameDecoder(config.max_frame_size)
        self.limiter = RateLimiter(
            config.rate_limit_per_second,
            config.historical_rate_limit_per_second,
            config.historical_payload_types,
        )
        self.app_authenticated = False
        self.sessions: dict[int, AccountSession] = {}
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.last_sent = loop.time()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()
        self._closing = False
        self._dropping = False
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "local"

    def __repr__(self) -> str:
        return f"<Connection #{self.id} {self.peer}>"

    # -----------------------------------------------------------------------------------------
    # Lifecycle

    async def run(self) -> None:
        """Serve the connection until the client leaves, the sandbox stops or a fault drops it."""
        logger.info("connection #%d from %s opened", self.id, self.peer)
        self._spawn(self._heartbeat_loop())
        try:
            await self._read_loop()
        except (ConnectionError, OSError) as exc:
            logger.info("connection #%d: %s", self.id, exc.__class__.__name__)
        finally:
            await self._shutdown()
            logger.info("connection #%d closed", self.id)

    async def _read_loop(self) -> None:
        idle_timeout = self.sandbox.config.idle_timeout
        while not self._closing:
            try:
                data = await asyncio.wait_for(self._reader.read(_READ_SIZE), idle_timeout)
            except asyncio.TimeoutError:
                logger.info("connection #%d idle for %s s: closing", self.id, idle_timeout)
                return
            if not data:
                return
            try:
                bodies = self._decoder.feed(data)
            except FrameTooLargeError as exc:
                self.send(ProtoErrorRes(error_code=ProtoErrorCode.FRAME_TOO_LONG.name, description=str(exc)))
                return
            for body in bodies:
                self._on_frame(body)
                if self._closing:
                    return

    def _on_frame(self, body: bytes) -> None:
        try:
            envelope = ProtoMessage.from_bytes(body)
        except DecodeError as exc:
            self.send(ProtoErrorRes(error_code=ProtoErrorCode.INVALID_REQUEST.name, description=str(exc)))
            return
        self.sandbox.stats.frames_received[envelope.payload_type] += 1
        if envelope.payload_type == ProtoHeartbeatEvent.PAYLOAD_TYPE or self.sandbox.faults.blackholed:
            return
        self.sandbox.dispatcher.handle(
            self, envelope.payload_type, envelope.payload or b"", envelope.client_msg_id
        )

    async def _heartbeat_loop(self) -> None:
        interval = self.sandbox.config.heartbeat_interval
        while True:
            delay = self.last_sent + interval - self._loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            if self.sandbox.faults.blackholed:
                self.last_sent = self._loop.time()
                continue
            self.send(ProtoHeartbeatEvent())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _shutdown(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            self._writer.transport.abort()
        self._closed.set()

    def abort(self) -> None:
        """Reset the connection at once (no goodbye); :meth:`run` then finishes."""
        self._closing = True
        self._writer.transport.abort()

    def close(self) -> None:
        """Close the connection gracefully after what is already queued; :meth:`run` then finishes."""
        self._closing = True
        self._writer.close()

    async def wait_closed(self) -> None:
        """Wait until :meth:`run` has cleaned up."""
        await self._closed.wait()

    @property
    def closing(self) -> bool:
        """True once the connection is being closed."""
        return self._closing

    # -----------------------------------------------------------------------------------------
    # Output

    def send(self, message: Message, client_msg_id: str | None = None, *, market_data: bool = False) -> bool:
        """Frame and queue ``message`` (with ``client_msg_id`` when it answers a request).

        Nothing is sent while the sandbox is blackholed or the connection closing. Market data is
        skipped (and counted) while more than ``write_buffer_limit`` bytes wait for a slow reader.

        Returns:
            Whether the frame was queued.
        """
        if not self._writable():
            return False
        if (
            market_data
            and self._writer.transport.get_write_buffer_size() > self.sandbox.config.write_buffer_limit
        ):
            self.sandbox.stats.market_data_skipped += 1
            return False
        self._writer.write(self._frame(message, client_msg_id))
        return True

    def send_frames(self, frames: Sequence[bytes], payload_type: int) -> int:
        """Queue frames encoded beforehand (all of ``payload_type``, no client message id) in one
        write: the fast path of bursts.

        Returns:
            How many were queued (fewer when a fault drops the connection within them).
        """
        if not self._writable():
            return 0
        queued = 0
        for _ in frames:
            queued += 1
            self._count(payload_type)
            if self._dropping:
                break
        self._writer.write(b"".join(frames[:queued]))
        return queued

    def _writable(self) -> bool:
        return not (
            self._closing
            or self._dropping
            or self.sandbox.faults.blackholed
            or self._writer.transport.is_closing()
        )

    def _frame(self, message: Message, client_msg_id: str | None) -> bytes:
        assert message.PAYLOAD_TYPE is not None
        frame = encode_frame(encode_envelope(message, client_msg_id))
        self._count(message.PAYLOAD_TYPE)
        return frame

    def _count(self, payload_type: int) -> None:
        """Count one frame sent, and arm the drop fault when it is the fatal one."""
        self.last_sent = self._loop.time()
        self.sandbox.stats.frames_sent[payload_type] += 1
        if self.sandbox.faults.frame_sent():
            logger.info("connection #%d dropped by fault injection", self.id)
            self._dropping = True
            self._spawn(self._drain_then_abort())

    async def _drain_then_abort(self) -> None:
        """Deliver what was sent, then reset the connection (``Faults.drop_after_frames``)."""
        await self.drain()
        self.abort()

    def answer(
        self, messages: Sequence[Message], client_msg_id: str | None, *, then: Sequence[Message] = ()
    ) -> None:
        """Send the answers to a request, then the events that follow them (``then``, without client
        message id), after the injected answer delay if there is one."""

        def send_all() -> None:
            for message in messages:
                self.send(message, client_msg_id)
            for event in then:
                self.send(event)

        delay = self.sandbox.faults.answer_delay
        if delay <= 0:
            send_all()
            return

        async def later() -> None:
            await asyncio.sleep(delay)
            send_all()

        self._spawn(later())

    def write_raw(self, data: bytes) -> None:
        """Queue raw bytes (fault injection), bypassing framing and the blackhole."""
        if not self._closing and not self._writer.transport.is_closing():
            self._writer.write(data)

    async def drain(self) -> None:
        """Wait until the queued bytes are handed to the OS (ignoring a connection that went away)."""
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.drain()

    def active_sessions(self, account_id: int) -> AccountSession | None:
        """The active session of ``account_id`` on this connection, if any."""
        session = self.sessions.get(account_id)
        return session if session is not None and session.active else None

    def sessions_where(self, predicate: Callable[[AccountSession], bool]) -> list[AccountSession]:
        """The active sessions matching ``predicate``."""
        return [s for s in self.sessions.values() if s.active and predicate(s)]
