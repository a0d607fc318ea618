"""Client-side rate limiting: stay under the server's per-second limits so it never has to block us.

Each rate class is a bucket of ``limit`` tokens. A request takes a token when it is sent and gives it
back when it is *released* (answered, failed or abandoned); the token is usable again one ``window``
after that. The server counts a request when it processes it, which is after we sent it and before
it answered, however busy the server is; so a token that returns one window after the answer can
never make the server see more than ``limit`` requests in one window, whether it counts per fixed
second, per sliding second or with a token bucket of its own. A full bucket lets ``limit`` requests
out at once.

:class:`RateLimiter` holds the two classes of the Open API: every request takes an ordinary token and
a historical-data request also takes a historical token. Waiters queue in FIFO order per class, and
an ordinary request never queues behind historical ones (a market order does not wait for 500 bar
downloads).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from ctrader_sdk._config import RateLimits
from ctrader_sdk._wire import Message

__all__ = ["RateLimiter", "SlidingWindow"]


class SlidingWindow:
    """A bucket of ``limit`` tokens, each usable again ``window`` seconds after it was given back.

    Args:
        limit: tokens in the bucket.
        window: seconds between giving a token back and using it again.
        clock: monotonic time source (the event loop's clock).
    """

    __slots__ = ("_changed", "_clock", "_lock", "_returned", "in_use", "limit", "window")

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self.in_use = 0  # tokens held by requests not yet released
        self._clock = clock
        self._returned: deque[float] = deque()  # when recent tokens were given back, oldest first
        self._lock = asyncio.Lock()
        self._changed: asyncio.Future[None] | None = None  # resolved when a token is given back

    def delay(self, now: float) -> float | None:
        """Seconds until a token is free at time ``now``: 0 when one is free now, ``None`` when every
        token is held by a request in flight (one comes back only when a request is released)."""
        returned = self._returned
        cutoff = now - self.window
        while returned and returned[0] <= cutoff:
            returned.popleft()
        if self.in_use + len(returned) < self.limit:
            return 0.0
        if returned:
            return returned[0] + self.window - now
        return None

    @property
    def available(self) -> int:
        """Tokens free right now."""
        now = self._clock()
        self.delay(now)
        return self.limit - self.in_use - len(self._returned)

    def take(self) -> None:
        """Take a token (the caller checked :meth:`delay` first)."""
        self.in_use += 1

    def give_back(self, now: float) -> None:
        """Give a taken token back at time ``now``; it is free again one window later."""
        self.in_use -= 1
        self._returned.append(now)
        changed = self._changed
        if changed is not None and not changed.done():
            changed.set_result(None)

    def spend(self, now: float) -> None:
        """Take a token and give it back at once (for a message that gets no tracked answer)."""
        self._returned.append(now)

    async def wait(self) -> None:
        """Wait until a token is free, without taking it."""
        clock = self._clock
        while (pause := self.delay(clock())) != 0.0:
            changed = self._changed
            if changed is None or changed.done():
                changed = self._changed = asyncio.get_running_loop().create_future()
            if pause is None:
                await asyncio.shield(changed)
            else:
                await asyncio.wait((changed,), timeout=pause)


class RateLimiter:
    """The two rate classes of the Open API, applied to outgoing requests.

    Every :meth:`acquire` (or successful :meth:`try_acquire`) must be paired with one :meth:`release`
    of the same message once its answer arrived or the request was given up.

    Args:
        limits: the configured limits; when ``limits.enabled`` is False every call is free.
        clock: monotonic time source; the event loop's ``time`` keeps sleeps and stamps consistent.
    """

    __slots__ = ("_clock", "_historical", "_historical_types", "_ordinary", "enabled")

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = limits.enabled
        self._clock = clock
        self._ordinary = SlidingWindow(limits.ordinary_per_second, limits.window, clock)
        self._historical = SlidingWindow(limits.historical_per_second, limits.window, clock)
        self._historical_types = limits.historical_requests

    def is_historical(self, message: Message) -> bool:
        """True when ``message`` belongs to the historical-data class."""
        return type(message) in self._historical_types

    def try_acquire(self, message: Message) -> bool:
        """Take the tokens of ``message`` if they are free now and nobody waits; never suspends.

        Returns:
            True when taken (release them later); False when :meth:`acquire` must be awaited instead.
        """
        if not self.enabled:
            return True
        ordinary = self._ordinary
        now = self._clock()
        if ordinary._lock.locked() or ordinary.delay(now) != 0.0:
            return False
        if type(message) in self._historical_types:
            historical = self._historical
            if historical._lock.locked() or historical.delay(now) != 0.0:
                return False
            historical.take()
        ordinary.take()
        return True

    async def acquire(self, message: Message) -> None:
        """Wait until the tokens of ``message`` are free, then take them.

        Cancelling the caller while it waits takes nothing.
        """
        if self.try_acquire(message):
            return
        if type(message) in self._historical_types:
            historical = self._historical
            async with historical._lock:
                await historical.wait()
                await self._acquire_ordinary()
                historical.take()
            return
        await self._acquire_ordinary()

    async def _acquire_ordinary(self) -> None:
        ordinary = self._ordinary
        async with ordinary._lock:
            await ordinary.wait()
            ordinary.take()

    def release(self, message: Message) -> None:
        """Give back the tokens ``message`` took: its answer arrived, or it was given up."""
        if not self.enabled:
            return
        now = self._clock()
        self._ordinary.give_back(now)
        if type(message) in self._historical_types:
            self._historical.give_back(now)

    def spend(self, message: Message) -> bool:
        """Take and give back at once the tokens of a message whose answer is not tracked, if free now.

        Returns:
            False (nothing spent) when a token is not free right now.
        """
        if not self.try_acquire(message):
            return False
        self.release(message)
        return True
