"""Event delivery: typed async iterators, callbacks, lifecycle events and the dispatcher behind them.

The client's receive loop hands every event to :meth:`Dispatcher.dispatch`, which finds the
subscribers of the event's class with one dict lookup and appends the event to each subscriber's
buffer (or calls its callback). No task is created per event; a waiting iterator is woken through one
future per batch.

Buffers follow one overflow policy per stream, fixed when the stream is made:

* a stream of market data only (``MARKET_DATA_EVENTS``: spots, depth; live trendbars ride in spot
  events) is bounded; when full it drops its **oldest** event, as a newer quote supersedes it, and
  counts the loss in :attr:`EventStream.dropped`;
* every other stream (trading, account, lifecycle events, or a mix) is **unbounded**: nothing is ever
  dropped, and the socket is never throttled for it either, since back-pressure on the connection
  would also stall market data, answers and heartbeats. These events are rare; a consumer that never
  reads them grows its buffer, visible in :attr:`EventStream.pending`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ctrader_sdk._exceptions import CTraderTimeoutError, ServerError
from ctrader_sdk._wire import Message, NotGiven, UnknownMessage

__all__ = [
    "LIFECYCLE_EVENTS",
    "Connected",
    "Disconnected",
    "Dispatcher",
    "EventStream",
    "Reconnected",
    "Subscription",
    "TokenRefreshed",
]

logger = logging.getLogger("ctrader_sdk")

E = TypeVar("E")


# ---------------------------------------------------------------------------------------------
# Lifecycle events


@dataclass(frozen=True, slots=True)
class Connected:
    """The client opened its first connection (emitted once, by ``open()``).

    Attributes:
        endpoint: where it connected, as ``host:port``.
    """

    endpoint: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection ended.

    Attributes:
        error: why it ended; ``None`` when the client was closed on purpose.
        will_reconnect: True when the client now reconnects and restores the session.
    """

    error: BaseException | None
    will_reconnect: bool


@dataclass(frozen=True, slots=True)
class Reconnected:
    """A new connection is up and the session was restored; requests flow again.

    Events sent by the server while the client was away are lost: reconcile (``reconcile()``,
    ``order_list()``...) if that matters.

    Attributes:
        attempts: connection attempts it took (1 when the first one succeeded).
        downtime: seconds between the drop and this event.
        errors: restore steps that failed without stopping the reconnection (an account whose token
            was refused, a subscription the server refused); the session continues without them.
    """

    attempts: int
    downtime: float
    errors: tuple[ServerError, ...] = ()


@dataclass(frozen=True, slots=True)
class TokenRefreshed:
    """The client got a new access token from its token provider and re-authorised its accounts with it.

    Emitted by a client made with ``token_provider=``, after a renewal that re-authorised at least one
    account (ahead of expiry, or because the server invalidated the token). Subscriptions that the
    server ended with the old token were restored. Events the server sent while an account was not
    authorised are lost.

    Attributes:
        accounts: the accounts now authorised with the new token.
        expires_at: when the new access token expires, in epoch seconds.
        errors: the accounts or subscriptions the server refused with the new token; the session
            continues without them.
    """

    accounts: tuple[int, ...]
    expires_at: float
    errors: tuple[ServerError, ...] = ()


#: The lifecycle event classes; they go through the same :meth:`Client.events` / :meth:`Client.on`.
LIFECYCLE_EVENTS: tuple[type[Any], ...] = (Connected, Disconnected, Reconnected, TokenRefreshed)


# ---------------------------------------------------------------------------------------------
# Filters

_ACCOUNT_FIELDS = ("ctid_trader_account_id", "ctid_trader_account_ids")
_SYMBOL_FIELDS = ("symbol_id",)


def _as_ids(value: int | Iterable[int]) -> frozenset[int]:
    if isinstance(value, int):
        return frozenset((value,))
    return frozenset(value)


def _field_of(cls: type[Any], candidates: tuple[str, ...]) -> str | None:
    if issubclass(cls, Message):
        names = {spec.name for spec in cls._FIELDS}
        for name in candidates:
            if name in names:
                return name
    return None


def _make_filter(
    types: tuple[type[Any], ...],
    account: int | Iterable[int] | None,
    symbol: int | Iterable[int] | None,
) -> Callable[[Any], bool] | None:
    """A predicate selecting events of the given account(s) and symbol(s); None when nothing is filtered.

    Raises:
        ValueError: a filter was given for an event type that has no such field.
    """
    checks: list[tuple[dict[type[Any], str], frozenset[int]]] = []
    for wanted, candidates, label in (
        (account, _ACCOUNT_FIELDS, "ctid_trader_account_id"),
        (symbol, _SYMBOL_FIELDS, "symbol_id"),
    ):
        if wanted is None:
            continue
        by_type: dict[type[Any], str] = {}
        for cls in types:
            name = _field_of(cls, candidates)
            if name is None:
                raise ValueError(f"{cls.__name__} has no {label} field to filter on")
            by_type[cls] = name
        checks.append((by_type, _as_ids(wanted)))
    if not checks:
        return None

    def accept(event: Any) -> bool:
        for by_type, ids in checks:
            value = getattr(event, by_type[type(event)])
            if isinstance(value, list):
                if ids.isdisjoint(value):
                    return False
            elif value not in ids:
                return False
        return True

    return accept


def check_event_types(types: tuple[type[Any], ...]) -> None:
    """Refuse anything that is not an event class the dispatcher can deliver.

    Raises:
        TypeError: no type given, or one is not a message with a payload type nor a lifecycle event.
    """
    if not types:
        raise TypeError("give at least one event type")
    for cls in types:
        candidate: object = cls  # typed as a class, but any object may be passed at run time
        ok = candidate in LIFECYCLE_EVENTS or candidate is UnknownMessage
        if not ok and isinstance(candidate, type) and issubclass(candidate, Message):
            ok = candidate.PAYLOAD_TYPE is not None
        if not ok:
            raise TypeError(f"{cls!r} is not an event type (a message class with a payload type)")


# ---------------------------------------------------------------------------------------------
# Sinks


class _Sink:
    """What the dispatcher delivers to: a stream's buffer or a callback."""

    __slots__ = ("accept", "types")

    def __init__(self, types: tuple[type[Any], ...], accept: Callable[[Any], bool] | None) -> None:
        self.types = types
        self.accept = accept

    def deliver(self, event: Any) -> None:
        raise NotImplementedError

    def finish(self, error: BaseException | None) -> None:
        """The client is closed: no more events will come."""


class _Queue(_Sink):
    """The buffer behind an :class:`EventStream` (kept apart so the dispatcher never holds the stream)."""

    __slots__ = ("buffer", "dropped", "ended", "error", "maxlen", "waiter")

    def __init__(
        self, types: tuple[type[Any], ...], accept: Callable[[Any], bool] | None, maxlen: int | None
    ) -> None:
        super().__init__(types, accept)
        self.buffer: deque[Any] = deque()
        self.maxlen = maxlen
        self.dropped = 0
        self.ended = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None

    def deliver(self, event: Any) -> None:
        accept = self.accept
        if accept is not None and not accept(event):
            return
        buffer = self.buffer
        maxlen = self.maxlen
        if maxlen is not None and len(buffer) >= maxlen:
            buffer.popleft()
            self.dropped += 1
        buffer.append(event)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def finish(self, error: BaseException | None) -> None:
        self.ended = True
        self.error = error
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)


class _Callback(_Sink):
    __slots__ = ("callback", "dispatcher", "is_async")

    def __init__(
        self,
        types: tuple[type[Any], ...],
        accept: Callable[[Any], bool] | None,
        callback: Callable[[Any], Any],
        dispatcher: Dispatcher,
    ) -> None:
        super().__init__(types, accept)
        self.callback = callback
        self.dispatcher = dispatcher
        self.is_async = inspect.iscoroutinefunction(callback)

    def deliver(self, event: Any) -> None:
        accept = self.accept
        if accept is not None and not accept(event):
            return
        try:
            result = self.callback(event)
        except Exception:
            logger.exception("event callback %r failed on %s", self.callback, type(event).__name__)
            return
        if self.is_async:
            self.dispatcher.run_callback(result, type(event).__name__)


# ---------------------------------------------------------------------------------------------
# Dispatcher


class Dispatcher:
    """Routes each event to the sinks subscribed to its class.

    ``routes`` maps an event class to a tuple of sinks; tuples are replaced, never mutated, so a
    callback that subscribes or unsubscribes during delivery cannot disturb the delivery in progress.
    """

    __slots__ = ("_closed_with", "_tasks", "closed", "routes")

    def __init__(self) -> None:
        self.routes: dict[type[Any], tuple[_Sink, ...]] = {}
        self.closed = False
        self._closed_with: BaseException | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def add(self, sink: _Sink) -> None:
        if self.closed:
            sink.finish(self._closed_with)
            return
        for cls in sink.types:
            self.routes[cls] = (*self.routes.get(cls, ()), sink)

    def remove(self, sink: _Sink) -> None:
        for cls in sink.types:
            sinks = tuple(s for s in self.routes.get(cls, ()) if s is not sink)
            if sinks:
                self.routes[cls] = sinks
            else:
                self.routes.pop(cls, None)

    def dispatch(self, event: Any) -> None:
        sinks = self.routes.get(type(event))
        if sinks:
            for sink in sinks:
                sink.deliver(event)

    def run_callback(self, awaitable: Awaitable[Any], event_name: str) -> None:
        """Run an async callback's coroutine as a task that is cancelled if the client closes."""

        async def guarded() -> None:
            try:
                await awaitable
            except Exception:
                logger.exception("async event callback failed on %s", event_name)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, error: BaseException | None) -> None:
        """End every stream (after its buffered events) and cancel running async callbacks."""
        self.closed = True
        self._closed_with = error
        sinks = {id(s): s for group in self.routes.values() for s in group}
        self.routes.clear()  # in place: the receive loop holds this dict
        for sink in sinks.values():
            sink.finish(error)
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


# ---------------------------------------------------------------------------------------------
# Public handles


class EventStream(Generic[E]):
    """A typed stream of events: an async iterator, and an async context manager that unsubscribes.

    Made by :meth:`Client.events`. Events are buffered from the moment the stream exists, so nothing
    between creating it and starting to iterate is lost. See the module docs for the overflow policy.

    Iteration ends when the stream is closed, or when the client closes (after the buffered events are
    consumed); if the client closed because the connection was lost for good, that error is raised
    instead of ending quietly. A stream that is garbage-collected unsubscribes itself.
    """

    __slots__ = ("_dispatcher", "_queue")

    def __init__(
        self,
        dispatcher: Dispatcher,
        types: tuple[type[Any], ...],
        *,
        maxlen: int | None,
        accept: Callable[[Any], bool] | None,
    ) -> None:
        self._dispatcher = dispatcher
        self._queue = _Queue(types, accept, maxlen)
        dispatcher.add(self._queue)

    def __repr__(self) -> str:
        names = ", ".join(t.__name__ for t in self._queue.types)
        return f"<EventStream of {names}: {self.pending} pending, {self.dropped} dropped>"

    @property
    def types(self) -> tuple[type[Any], ...]:
        """The event classes this stream receives."""
        return self._queue.types

    @property
    def pending(self) -> int:
        """Events buffered and not yet read."""
        return len(self._queue.buffer)

    @property
    def dropped(self) -> int:
        """Events dropped because the buffer was full (only market-data streams ever drop)."""
        return self._queue.dropped

    @property
    def max_pending(self) -> int | None:
        """The buffer's bound, or ``None`` for an unbounded stream."""
        return self._queue.maxlen

    @property
    def closed(self) -> bool:
        """True once the stream will deliver no new event (closed, or the client closed)."""
        return self._queue.ended

    def __aiter__(self) -> EventStream[E]:
        return self

    async def __anext__(self) -> E:
        queue = self._queue
        while True:
            if queue.buffer:
                event: E = queue.buffer.popleft()
                return event
            if queue.ended:
                if queue.error is not None:
                    raise queue.error
                raise StopAsyncIteration
            waiter = asyncio.get_running_loop().create_future()
            queue.waiter = waiter
            try:
                await waiter
            finally:
                if queue.waiter is waiter:
                    queue.waiter = None

    async def get(self, timeout: float | None = None) -> E:
        """The next event, waiting at most ``timeout`` seconds (``None``: forever).

        Raises:
            CTraderTimeoutError: no event within ``timeout``.
            StopAsyncIteration: the stream ended.
        """
        if timeout is None:
            return await self.__anext__()
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except asyncio.TimeoutError:
            raise CTraderTimeoutError(f"no event within {timeout} s") from None

    def close(self) -> None:
        """Unsubscribe and end the iteration now; buffered events are discarded. Idempotent."""
        queue = self._queue
        self._dispatcher.remove(queue)
        queue.buffer.clear()
        queue.finish(None)

    async def aclose(self) -> None:
        """Same as :meth:`close` (for ``contextlib.aclosing`` and symmetry with async generators)."""
        self.close()

    async def __aenter__(self) -> EventStream[E]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter shutdown, anything may be gone
            self._dispatcher.remove(self._queue)


class Subscription:
    """Handle of a callback registered with :meth:`Client.on`; :meth:`remove` unregisters it.

    Also a context manager that removes the callback on exit.
    """

    __slots__ = ("_dispatcher", "_sink")

    def __init__(self, dispatcher: Dispatcher, sink: _Callback) -> None:
        self._dispatcher = dispatcher
        self._sink = sink
        dispatcher.add(sink)

    def __repr__(self) -> str:
        names = ", ".join(t.__name__ for t in self._sink.types)
        return f"<Subscription of {names} → {self._sink.callback!r}>"

    def remove(self) -> None:
        """Stop calling the callback (async callbacks already running finish). Idempotent."""
        self._dispatcher.remove(self._sink)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


def make_stream(
    dispatcher: Dispatcher,
    types: tuple[type[Any], ...],
    *,
    market_data: frozenset[type[Any]],
    default_size: int,
    buffer_size: int | NotGiven | None,
    account: int | Iterable[int] | None,
    symbol: int | Iterable[int] | None,
) -> EventStream[Any]:
    """Build an :class:`EventStream` after checking the types, filters and buffer size.

    Args:
        dispatcher: where the stream subscribes.
        types: event classes.
        market_data: the classes whose streams may drop.
        default_size: the bound of a market-data stream when ``buffer_size`` is not given.
        buffer_size: an int bound (market data only), ``None`` for unbounded, anything else: default.
        account: account id(s) to keep, or None.
        symbol: symbol id(s) to keep, or None.

    Raises:
        TypeError: a type is not an event type.
        ValueError: a bad filter, or a bound asked for a stream that carries events that are never dropped.
    """
    check_event_types(types)
    accept = _make_filter(types, account, symbol)
    droppable = all(t in market_data for t in types)
    maxlen: int | None
    if buffer_size is None:
        maxlen = None
    elif not isinstance(buffer_size, NotGiven):
        if not droppable:
            raise ValueError("only market-data streams are bounded: other events are never dropped")
        if buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        maxlen = buffer_size
    else:
        maxlen = default_size if droppable else None
    return EventStream(dispatcher, types, maxlen=maxlen, accept=accept)


def make_subscription(
    dispatcher: Dispatcher,
    types: tuple[type[Any], ...],
    callback: Callable[[Any], Any],
    *,
    account: int | Iterable[int] | None,
    symbol: int | Iterable[int] | None,
) -> Subscription:
    """Register ``callback`` for ``types`` (see :meth:`Client.on`)."""
    check_event_types(types)
    if not callable(callback):
        raise TypeError("callback must be callable")
    accept = _make_filter(types, account, symbol)
    return Subscription(dispatcher, _Callback(types, accept, callback, dispatcher))


for _cls in (Connected, Disconnected, Reconnected, TokenRefreshed, EventStream, Subscription):
    _cls.__module__ = "ctrader_sdk"
del _cls
