"""Event streams and callbacks at the dispatcher level: overflow policy, filters, lifecycle of a stream."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest

from ctrader_sdk import NOT_GIVEN, Connected, CTraderConnectionError, CTraderTimeoutError, Disconnected
from ctrader_sdk._config import MARKET_DATA_EVENTS
from ctrader_sdk._events import Dispatcher, EventStream, make_stream, make_subscription
from ctrader_sdk.messages import (
    ProtoOAAccountsTokenInvalidatedEvent,
    ProtoOADepthEvent,
    ProtoOAExecutionEvent,
    ProtoOAExecutionType,
    ProtoOASpotEvent,
    ProtoOAVersionReq,
)


def stream(
    dispatcher: Dispatcher, *types: type[Any], buffer_size: Any = NOT_GIVEN, **filters: Any
) -> EventStream[Any]:
    return make_stream(
        dispatcher,
        types,
        market_data=MARKET_DATA_EVENTS,
        default_size=4,
        buffer_size=buffer_size,
        account=filters.get("account"),
        symbol=filters.get("symbol"),
    )


def spot(n: int, account: int = 1, symbol: int = 1) -> ProtoOASpotEvent:
    return ProtoOASpotEvent(ctid_trader_account_id=account, symbol_id=symbol, bid=n)


def execution(n: int, account: int = 1) -> ProtoOAExecutionEvent:
    return ProtoOAExecutionEvent(
        ctid_trader_account_id=account, execution_type=ProtoOAExecutionType.ORDER_FILLED, error_code=str(n)
    )


async def test_market_data_stream_drops_oldest_and_counts() -> None:
    dispatcher = Dispatcher()
    spots = stream(dispatcher, ProtoOASpotEvent)
    assert spots.max_pending == 4
    for n in range(10):
        dispatcher.dispatch(spot(n))
    assert spots.pending == 4
    assert spots.dropped == 6
    assert [(await spots.get(1)).bid for _ in range(4)] == [6, 7, 8, 9]


async def test_trading_stream_never_drops() -> None:
    dispatcher = Dispatcher()
    executions = stream(dispatcher, ProtoOAExecutionEvent)
    assert executions.max_pending is None
    for n in range(10_000):
        dispatcher.dispatch(execution(n))
    assert executions.pending == 10_000
    assert executions.dropped == 0


async def test_mixed_stream_is_unbounded_and_a_bound_is_refused_for_it() -> None:
    dispatcher = Dispatcher()
    mixed = stream(dispatcher, ProtoOASpotEvent, ProtoOAExecutionEvent)
    assert mixed.max_pending is None
    with pytest.raises(ValueError, match="never dropped"):
        stream(dispatcher, ProtoOASpotEvent, ProtoOAExecutionEvent, buffer_size=10)
    unbounded_spots = stream(dispatcher, ProtoOASpotEvent, buffer_size=None)
    assert unbounded_spots.max_pending is None
    dispatcher.dispatch(spot(1))
    dispatcher.dispatch(execution(2))
    assert [type(await mixed.get(1)) for _ in range(2)] == [ProtoOASpotEvent, ProtoOAExecutionEvent]


async def test_filters_by_account_and_symbol() -> None:
    dispatcher = Dispatcher()
    one = stream(dispatcher, ProtoOASpotEvent, account=1, symbol=[2, 3], buffer_size=100)
    tokens = stream(dispatcher, ProtoOAAccountsTokenInvalidatedEvent, account=5)
    for account in (1, 2):
        for symbol in (1, 2, 3):
            dispatcher.dispatch(spot(10 * account + symbol, account, symbol))
    dispatcher.dispatch(ProtoOAAccountsTokenInvalidatedEvent(ctid_trader_account_ids=[4, 6]))
    dispatcher.dispatch(ProtoOAAccountsTokenInvalidatedEvent(ctid_trader_account_ids=[4, 5]))
    assert [(await one.get(1)).bid for _ in range(one.pending)] == [12, 13]
    assert tokens.pending == 1
    assert (await tokens.get(1)).ctid_trader_account_ids == [4, 5]


def test_bad_types_and_filters_are_refused() -> None:
    dispatcher = Dispatcher()
    with pytest.raises(TypeError):
        stream(dispatcher)
    with pytest.raises(TypeError, match="not an event type"):
        stream(dispatcher, int)
    with pytest.raises(ValueError, match="symbol_id"):
        stream(dispatcher, ProtoOAExecutionEvent, symbol=1)
    with pytest.raises(ValueError, match="ctid_trader_account_id"):
        stream(dispatcher, Connected, account=1)
    with pytest.raises(ValueError, match="at least 1"):
        stream(dispatcher, ProtoOASpotEvent, buffer_size=0)
    assert dispatcher.routes == {}
    with pytest.raises(TypeError):
        make_subscription(dispatcher, (ProtoOASpotEvent,), "nope", account=None, symbol=None)  # type: ignore[arg-type]
    assert ProtoOAVersionReq.PAYLOAD_TYPE is not None  # requests are messages too: accepted as types
    stream(dispatcher, ProtoOAVersionReq)


async def test_context_manager_and_close_unsubscribe() -> None:
    dispatcher = Dispatcher()
    async with stream(dispatcher, ProtoOASpotEvent) as spots:
        assert dispatcher.routes[ProtoOASpotEvent]
        dispatcher.dispatch(spot(1))
    assert ProtoOASpotEvent not in dispatcher.routes
    assert spots.closed
    with pytest.raises(StopAsyncIteration):
        await spots.get(1)

    depth = stream(dispatcher, ProtoOADepthEvent)
    depth.close()
    depth.close()  # idempotent
    assert dispatcher.routes == {}


async def test_garbage_collected_stream_unsubscribes() -> None:
    dispatcher = Dispatcher()
    stream(dispatcher, ProtoOASpotEvent)  # dropped at once
    gc.collect()
    assert ProtoOASpotEvent not in dispatcher.routes


async def test_iteration_waits_then_ends_after_the_buffer_when_the_dispatcher_closes() -> None:
    dispatcher = Dispatcher()
    spots = stream(dispatcher, ProtoOASpotEvent)
    got: list[int | None] = []

    async def consume() -> None:
        async for event in spots:
            got.append(event.bid)

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0)
    dispatcher.dispatch(spot(1))
    await asyncio.sleep(0)
    dispatcher.dispatch(spot(2))
    dispatcher.dispatch(spot(3))
    await dispatcher.close(None)
    await asyncio.wait_for(task, 1)
    assert got == [1, 2, 3]


async def test_iteration_raises_the_error_the_client_died_of() -> None:
    dispatcher = Dispatcher()
    spots = stream(dispatcher, ProtoOASpotEvent)
    dispatcher.dispatch(spot(1))
    await dispatcher.close(CTraderConnectionError("gone for good"))
    assert (await spots.get(1)).bid == 1
    with pytest.raises(CTraderConnectionError, match="gone for good"):
        await spots.get(1)
    late = stream(dispatcher, ProtoOASpotEvent)  # subscribing after the end gives an ended stream
    with pytest.raises(CTraderConnectionError):
        await late.get(1)


async def test_get_times_out() -> None:
    spots = stream(Dispatcher(), ProtoOASpotEvent)
    with pytest.raises(CTraderTimeoutError):
        await spots.get(0.01)


async def test_callbacks_sync_and_async_with_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    dispatcher = Dispatcher()
    seen: list[Any] = []
    done = asyncio.Event()

    def sync_cb(event: Any) -> None:
        seen.append(("sync", type(event).__name__))
        if isinstance(event, Disconnected):
            raise RuntimeError("callback bug")

    async def async_cb(event: ProtoOASpotEvent) -> None:
        await asyncio.sleep(0)
        seen.append(("async", event.bid))
        done.set()

    sub = make_subscription(dispatcher, (Connected, Disconnected), sync_cb, account=None, symbol=None)
    with (
        make_subscription(dispatcher, (ProtoOASpotEvent,), async_cb, account=None, symbol=7),
        caplog.at_level(logging.ERROR, logger="ctrader_sdk"),
    ):
        dispatcher.dispatch(Connected("x:1"))
        dispatcher.dispatch(Disconnected(None, will_reconnect=False))
        dispatcher.dispatch(spot(5, symbol=8))
        dispatcher.dispatch(spot(6, symbol=7))
        await asyncio.wait_for(done.wait(), 1)
    assert "callback bug" in caplog.text
    assert seen == [("sync", "Connected"), ("sync", "Disconnected"), ("async", 6)]
    assert ProtoOASpotEvent not in dispatcher.routes
    sub.remove()
    sub.remove()
    assert dispatcher.routes == {}


async def test_close_cancels_running_async_callbacks() -> None:
    dispatcher = Dispatcher()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow(event: Any) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    make_subscription(dispatcher, (ProtoOASpotEvent,), slow, account=None, symbol=None)
    dispatcher.dispatch(spot(1))
    await asyncio.wait_for(started.wait(), 1)
    await dispatcher.close(None)
    assert cancelled.is_set()
