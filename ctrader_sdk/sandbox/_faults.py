"""Fault injection and counters, for tests of clients against the sandbox.

``Sandbox.faults`` breaks the connection in the ways a real network and server do: dropped
connections, late answers, garbage, an impossible frame length, a server that reads but never
answers. ``Sandbox.stats`` counts what happened, so a test can assert on it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ctrader_sdk._framing import DEFAULT_MAX_FRAME_SIZE, encode_frame

if TYPE_CHECKING:
    from ctrader_sdk.sandbox._connection import Connection

__all__ = ["GARBAGE_BODY", "Faults", "SandboxStats"]

#: A frame body that is not a ``ProtoMessage``: its first byte announces field number 0.
GARBAGE_BODY = b"\x07garbage, not a ProtoMessage\xff\xff"


@dataclass(slots=True)
class SandboxStats:
    """Counters of everything the sandbox received and sent (all connections together).

    Attributes:
        frames_received: payload type → frames received from clients (heartbeats included).
        frames_sent: payload type → frames sent to clients (answers, events and heartbeats).
        connections: connections open now.
        connections_total: connections accepted since start.
        blocked_answers: ``BLOCKED_PAYLOAD_TYPE`` answers sent by the rate limiter.
        market_data_skipped: market data events not sent because a client read too slowly.
    """

    frames_received: Counter[int] = field(default_factory=Counter)
    frames_sent: Counter[int] = field(default_factory=Counter)
    connections: int = 0
    connections_total: int = 0
    blocked_answers: int = 0
    market_data_skipped: int = 0

    def received(self, message_class: type) -> int:
        """Frames received of ``message_class`` (a generated message class)."""
        return self.frames_received[getattr(message_class, "PAYLOAD_TYPE", -1)]

    def sent(self, message_class: type) -> int:
        """Frames sent of ``message_class`` (a generated message class)."""
        return self.frames_sent[getattr(message_class, "PAYLOAD_TYPE", -1)]


class Faults:
    """Fault injection; reached as ``Sandbox.faults``.

    Args:
        connections: returns the open connections (the sandbox's registry).
    """

    def __init__(self, connections: Callable[[], Collection[Connection]]) -> None:
        self._connections = connections
        self._answer_delay = 0.0
        self._blackhole = False
        self._drop_countdown: int | None = None

    @property
    def answer_delay(self) -> float:
        """Seconds every answer is held back (0: none)."""
        return self._answer_delay

    @property
    def blackholed(self) -> bool:
        """Whether the sandbox reads but sends nothing at all."""
        return self._blackhole

    async def drop_connections(self) -> int:
        """Abort every open connection now (a reset, as when a server or network fails).

        Returns:
            How many connections were dropped. They are gone when this returns.
        """
        connections = list(self._connections())
        for connection in connections:
            connection.abort()
        await asyncio.gather(*(c.wait_closed() for c in connections))
        return len(connections)

    def drop_after_frames(self, count: int | None) -> None:
        """Abort the connection that sends the ``count``-th frame from now, then disarm.

        Frames are counted over all connections; ``None`` disarms. Useful to cut a connection in the
        middle of a sequence (e.g. between ORDER_ACCEPTED and ORDER_FILLED).
        """
        if count is not None and count <= 0:
            raise ValueError("count must be positive")
        self._drop_countdown = count

    def delay_answers(self, seconds: float) -> None:
        """Hold every answer to a request back by ``seconds`` (0 restores immediate answers).

        Events (spots, execution events for other connections, heartbeats) are not delayed, and
        the connection keeps reading meanwhile.
        """
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        self._answer_delay = float(seconds)

    def blackhole(self, enabled: bool = True) -> None:
        """Stop answering: keep accepting and reading, but send nothing (not even heartbeats or
        market data). Requests received meanwhile are never answered, even after it is turned off."""
        self._blackhole = enabled

    async def send_garbage(self) -> int:
        """Send every connection one well-framed frame whose body is not a ``ProtoMessage``.

        Returns:
            How many connections it was sent to.
        """
        return await self._send_raw(encode_frame(GARBAGE_BODY))

    async def send_oversize(self, length: int = DEFAULT_MAX_FRAME_SIZE + 1) -> int:
        """Send every connection a frame header announcing ``length`` bytes, and no body.

        A client must refuse it before allocating; the stream cannot be resynchronised after it.

        Returns:
            How many connections it was sent to.
        """
        if not 0 <= length < 1 << 32:
            raise ValueError("length must fit the 4-byte frame header")
        return await self._send_raw(length.to_bytes(4, "big"))

    async def _send_raw(self, data: bytes) -> int:
        connections = list(self._connections())
        for connection in connections:
            connection.write_raw(data)
        await asyncio.gather(*(c.drain() for c in connections))
        return len(connections)

    def reset(self) -> None:
        """Turn every fault off."""
        self._answer_delay = 0.0
        self._blackhole = False
        self._drop_countdown = None

    def frame_sent(self) -> bool:
        """Count one frame sent; True when it is the one that must drop its connection."""
        if self._drop_countdown is None:
            return False
        self._drop_countdown -= 1
        if self._drop_countdown > 0:
            return False
        self._drop_countdown = None
        return True
