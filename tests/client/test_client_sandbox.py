"""The client against the real sandbox (ctrader_sdk.sandbox): the issue's session over verified TLS,
every generated request method, rate limits at scale, reconnection, faults and slow consumers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from client_support import FAST_RECONNECT, eventually, fast_config
from typing_extensions import assert_type

from ctrader_sdk import (
    Client,
    ClientConfig,
    CTraderConnectionError,
    Disconnected,
    Endpoint,
    FrameTooLargeError,
    OrderError,
    ProtocolError,
    RateLimits,
    Reconnected,
)
from ctrader_sdk._generated.requests import REQUEST_METHODS
from ctrader_sdk.errors import (
    AccountNotAuthorizedError,
    ChClientAuthFailureError,
    ChCtidTraderAccountNotFoundError,
    TradingBadVolumeError,
)
from ctrader_sdk.messages import (
    ProtoOAAccountAuthReq,
    ProtoOAApplicationAuthReq,
    ProtoOAExecutionEvent,
    ProtoOAExecutionType,
    ProtoOAGetTrendbarsReq,
    ProtoOAMarginCall,
    ProtoOANotificationType,
    ProtoOAOrderType,
    ProtoOAQuoteType,
    ProtoOASpotEvent,
    ProtoOASubscribeDepthQuotesReq,
    ProtoOASubscribeSpotsReq,
    ProtoOATradeSide,
    ProtoOATrendbarPeriod,
    ProtoOAv1PnLChangeSubscribeReq,
)
from ctrader_sdk.sandbox import Sandbox, SandboxConfig
from ctrader_sdk.testing import connect_sandbox

CLIENT_ID, SECRET, TOKEN = "sandbox-client", "sandbox-secret", "sandbox-token"
ACCOUNT = 100001
HOUR_MS = 3_600_000
SYMBOLS = (1, 2, 4, 5, 6)  # in the sandbox's catalogue


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(SandboxConfig(seed=42)) as sb:
        yield sb


async def login(client: Client, account: int = ACCOUNT) -> None:
    await client.application_auth(client_id=CLIENT_ID, client_secret=SECRET)
    await client.account_auth(ctid_trader_account_id=account, access_token=TOKEN)


def now_ms() -> int:
    return int(time.time() * 1000)


def market_order(client: Client, volume: int = 100_000, **extra: Any) -> Any:
    return client.new_order(
        ctid_trader_account_id=ACCOUNT,
        symbol_id=1,
        order_type=ProtoOAOrderType.MARKET,
        trade_side=ProtoOATradeSide.BUY,
        volume=volume,
        **extra,
    )


async def test_issue_session_over_verified_tls() -> None:
    """The issue's example, typed end to end, over TLS verified against the sandbox's certificate."""
    async with Sandbox(SandboxConfig(tls=True, seed=42)) as sb:
        endpoint = Endpoint(sb.host, sb.port)
        refused = Client(endpoint, config=fast_config())  # the system trust store does not know the sandbox
        with pytest.raises(CTraderConnectionError):
            await refused.open()
        await refused.close()

        async with Client.connect(endpoint, ssl=sb.ssl_context(), config=fast_config()) as client:
            await client.application_auth(client_id=CLIENT_ID, client_secret=SECRET)
            accounts = await client.get_account_list_by_access_token(access_token=TOKEN)
            acct = accounts.ctid_trader_account[0].ctid_trader_account_id
            await client.account_auth(ctid_trader_account_id=acct, access_token=TOKEN)
            bars = await client.get_trendbars(
                ctid_trader_account_id=acct,
                symbol_id=1,
                period=ProtoOATrendbarPeriod.H1,
                from_timestamp=now_ms() - 24 * HOUR_MS,
                to_timestamp=now_ms(),
            )
            assert 20 <= len(bars.trendbar) <= 25
            async with client.events(ProtoOASpotEvent, ctid_trader_account_id=acct) as spots:
                await client.subscribe_spots(ctid_trader_account_id=acct, symbol_id=[1, 2])
                seen: set[int] = set()
                async for spot in spots:
                    assert_type(spot, ProtoOASpotEvent)
                    seen.add(spot.symbol_id)
                    if seen == {1, 2}:
                        break


async def test_testing_helper_over_tls_and_pipe() -> None:
    async with Sandbox(SandboxConfig(tls=True, seed=3)) as sb:
        for via in ("tcp", "pipe"):
            async with connect_sandbox(sb, via=via, config=fast_config()) as client:
                await login(client)
                assert (
                    await client.trader(ctid_trader_account_id=ACCOUNT)
                ).trader.ctid_trader_account_id == ACCOUNT
        with pytest.raises(ValueError, match="via"):
            connect_sandbox(sb, via="carrier pigeon")  # type: ignore[arg-type]
        assert sb.stats.connections_total == 2


async def test_every_generated_request_method_is_called(sandbox: Sandbox) -> None:
    """Calls each of the 42 request methods once, in a realistic order, and proves with the sandbox's
    per-payload-type counters that none is missing."""
    async with connect_sandbox(sandbox, config=fast_config()) as c:
        a = ACCOUNT
        t1 = now_ms()
        t0 = t1 - 24 * HOUR_MS
        await c.version()
        await c.application_auth(client_id=CLIENT_ID, client_secret=SECRET)
        await c.get_account_list_by_access_token(access_token=TOKEN)
        await c.get_ctid_profile_by_token(access_token=TOKEN)
        await c.account_auth(ctid_trader_account_id=a, access_token=TOKEN)
        await c.trader(ctid_trader_account_id=a)
        assets = await c.asset_list(ctid_trader_account_id=a)
        await c.asset_class_list(ctid_trader_account_id=a)
        await c.symbol_category_list(ctid_trader_account_id=a)
        await c.symbols_list(ctid_trader_account_id=a)
        symbol = (await c.symbol_by_id(ctid_trader_account_id=a, symbol_id=[1])).symbol[0]
        await c.symbols_for_conversion(
            ctid_trader_account_id=a,
            first_asset_id=assets.asset[0].asset_id,
            last_asset_id=assets.asset[1].asset_id,
        )
        if symbol.leverage_id is not None:
            await c.get_dynamic_leverage_by_id(ctid_trader_account_id=a, leverage_id=symbol.leverage_id)
        else:  # still called: the server's refusal proves the method works end to end
            with pytest.raises(Exception):  # noqa: B017
                await c.get_dynamic_leverage_by_id(ctid_trader_account_id=a, leverage_id=1)
        await c.expected_margin(ctid_trader_account_id=a, symbol_id=1, volume=[100_000])
        await c.get_trendbars(
            ctid_trader_account_id=a,
            symbol_id=1,
            period=ProtoOATrendbarPeriod.M5,
            from_timestamp=t0,
            to_timestamp=t1,
        )
        await c.get_tick_data(
            ctid_trader_account_id=a,
            symbol_id=1,
            type_=ProtoOAQuoteType.BID,
            from_timestamp=t1 - 60_000,
            to_timestamp=t1,
        )
        await c.subscribe_spots(ctid_trader_account_id=a, symbol_id=[1])
        await c.subscribe_live_trendbar(
            ctid_trader_account_id=a, symbol_id=1, period=ProtoOATrendbarPeriod.M1
        )
        await c.unsubscribe_live_trendbar(
            ctid_trader_account_id=a, symbol_id=1, period=ProtoOATrendbarPeriod.M1
        )
        await c.unsubscribe_spots(ctid_trader_account_id=a, symbol_id=[1])
        await c.subscribe_depth_quotes(ctid_trader_account_id=a, symbol_id=[1])
        await c.unsubscribe_depth_quotes(ctid_trader_account_id=a, symbol_id=[1])
        await c.v1_pnl_change_subscribe(ctid_trader_account_id=a)
        await c.v1_pnl_change_un_subscribe(ctid_trader_account_id=a)

        async with c.events(ProtoOAExecutionEvent) as executions:
            await market_order(c)
            filled = [await executions.get(2) for _ in range(2)][1]
        assert filled.execution_type is ProtoOAExecutionType.ORDER_FILLED and filled.position is not None
        position_id = filled.position.position_id
        await c.amend_position_sltp(ctid_trader_account_id=a, position_id=position_id, stop_loss=0.5)
        await c.get_position_unrealized_pnl(ctid_trader_account_id=a)
        await c.reconcile(ctid_trader_account_id=a)
        pending = await c.new_order(
            ctid_trader_account_id=a,
            symbol_id=1,
            order_type=ProtoOAOrderType.LIMIT,
            trade_side=ProtoOATradeSide.BUY,
            volume=100_000,
            limit_price=0.5,
        )
        assert pending.order is not None
        order_id = pending.order.order_id
        await c.amend_order(ctid_trader_account_id=a, order_id=order_id, limit_price=0.6)
        await c.order_details(ctid_trader_account_id=a, order_id=order_id)
        await c.cancel_order(ctid_trader_account_id=a, order_id=order_id)
        await c.close_position(ctid_trader_account_id=a, position_id=position_id, volume=100_000)
        deals = await c.deal_list(ctid_trader_account_id=a, from_timestamp=t0, to_timestamp=now_ms() + 1000)
        await c.deal_list_by_position_id(ctid_trader_account_id=a, position_id=position_id)
        await c.deal_offset_list(ctid_trader_account_id=a, deal_id=deals.deal[0].deal_id)
        await c.order_list(ctid_trader_account_id=a, from_timestamp=t0, to_timestamp=now_ms() + 1000)
        await c.order_list_by_position_id(ctid_trader_account_id=a, position_id=position_id)
        await c.cash_flow_history_list(ctid_trader_account_id=a, from_timestamp=t0, to_timestamp=now_ms())
        await c.margin_call_list(ctid_trader_account_id=a)
        await c.margin_call_update(
            ctid_trader_account_id=a,
            margin_call=ProtoOAMarginCall(
                margin_call_type=ProtoOANotificationType.MARGIN_LEVEL_THRESHOLD_1, margin_level_threshold=80.0
            ),
        )
        await c.account_logout(ctid_trader_account_id=a)
        await c.refresh_token(refresh_token=sandbox.refresh_token)

    missing = [
        name
        for name, cls in REQUEST_METHODS.items()
        if sandbox.stats.frames_received[cls.PAYLOAD_TYPE or -1] == 0
    ]
    assert missing == []
    assert len(REQUEST_METHODS) == 42


async def test_typed_errors_from_the_sandbox(sandbox: Sandbox) -> None:
    async with connect_sandbox(sandbox, config=fast_config()) as client:
        with pytest.raises(ChClientAuthFailureError):
            await client.application_auth(client_id=CLIENT_ID, client_secret="wrong")
        await client.application_auth(client_id=CLIENT_ID, client_secret=SECRET)
        with pytest.raises(ChCtidTraderAccountNotFoundError):
            await client.account_auth(ctid_trader_account_id=999, access_token=TOKEN)
        with pytest.raises(AccountNotAuthorizedError):
            await client.trader(ctid_trader_account_id=ACCOUNT)
        await client.account_auth(ctid_trader_account_id=ACCOUNT, access_token=TOKEN)
        with pytest.raises(OrderError) as info:
            await market_order(client, volume=1)
        assert isinstance(info.value, TradingBadVolumeError)
        assert info.value.ctid_trader_account_id == ACCOUNT


async def test_1000_concurrent_requests_are_correlated(sandbox: Sandbox) -> None:
    """Both sides' limits are raised to 2,000/s for this test so all 1,000 go at once."""
    async with Sandbox(SandboxConfig(seed=1, rate_limit_per_second=2000)) as sb:
        config = fast_config(rate_limits=RateLimits(ordinary_per_second=2000), request_timeout=30.0)
        async with connect_sandbox(sb, config=config) as client:
            await login(client)
            ids = [1, 2, 4, 5, 6, 8, 9, 12, 41, 42] * 100
            answers = await asyncio.gather(
                *(client.symbol_by_id(ctid_trader_account_id=ACCOUNT, symbol_id=[i]) for i in ids)
            )
            assert [a.symbol[0].symbol_id for a in answers] == ids
            versions = await asyncio.gather(*(client.version() for _ in range(1000)))
            assert {v.version for v in versions} == {"91"}
            assert client.pending_requests == 0
        assert sb.stats.blocked_answers == 0


def trendbars_call(client: Client, n: int) -> Any:
    t1 = now_ms() - n * 60_000
    return client.get_trendbars(
        ctid_trader_account_id=ACCOUNT,
        symbol_id=SYMBOLS[n % len(SYMBOLS)],
        period=ProtoOATrendbarPeriod.M1,
        from_timestamp=t1 - HOUR_MS,
        to_timestamp=t1,
    )


async def test_500_historical_requests_without_a_single_block() -> None:
    """500 get_trendbars at once, with 100/s on both sides: the client's buckets pace them (~5 s) so
    the server never answers BLOCKED_PAYLOAD_TYPE."""
    config = SandboxConfig(seed=1, rate_limit_per_second=100, historical_rate_limit_per_second=100)
    async with Sandbox(config) as sb:
        limits = RateLimits(ordinary_per_second=100, historical_per_second=100)
        async with connect_sandbox(
            sb, config=fast_config(rate_limits=limits, request_timeout=10.0)
        ) as client:
            await login(client)
            started = time.monotonic()
            answers = await asyncio.gather(*(trendbars_call(client, n) for n in range(500)))
            elapsed = time.monotonic() - started
        assert len(answers) == 500 and all(a.trendbar for a in answers)
        assert sb.stats.received(ProtoOAGetTrendbarsReq) == 500  # not one retry
        assert sb.stats.blocked_answers == 0
        assert elapsed >= 4.0  # paced: 500 at 100 per (1 s + margin) window


async def test_default_tables_at_the_vendor_rate() -> None:
    """The default client config against the sandbox's default vendor limits (50/s, 5/s historical):
    15 historical requests of three kinds, all at once, and zero blocks."""
    async with Sandbox(SandboxConfig(seed=1)) as sb:
        async with connect_sandbox(sb) as client:
            await login(client)
            t1 = now_ms()
            calls: list[Any] = []
            for n in range(5):
                calls.append(trendbars_call(client, n))
                calls.append(
                    client.get_tick_data(
                        ctid_trader_account_id=ACCOUNT,
                        symbol_id=1,
                        type_=ProtoOAQuoteType.ASK,
                        from_timestamp=t1 - 60_000,
                        to_timestamp=t1,
                    )
                )
                calls.append(
                    client.deal_list(ctid_trader_account_id=ACCOUNT, from_timestamp=0, to_timestamp=t1)
                )
            started = time.monotonic()
            await asyncio.gather(*calls, *(client.version() for _ in range(40)))
            elapsed = time.monotonic() - started
        assert sb.stats.blocked_answers == 0
        assert elapsed >= 2.0  # 15 historical at 5 per window: three windows


async def test_server_blocks_are_retried_when_the_client_does_not_limit() -> None:
    """With client-side limiting off, the sandbox blocks; read requests wait retryAfter and succeed."""
    async with Sandbox(SandboxConfig(seed=1)) as sb:
        config = fast_config(rate_limits=RateLimits(enabled=False), request_timeout=10.0)
        async with connect_sandbox(sb, config=config) as client:
            await login(client)
            answers = await asyncio.gather(*(trendbars_call(client, n) for n in range(8)))
            assert len(answers) == 8
            assert sb.stats.blocked_answers > 0
            assert sb.stats.received(ProtoOAGetTrendbarsReq) == 8 + sb.stats.blocked_answers


async def test_reconnect_restores_the_session_and_loses_no_trading_event(sandbox: Sandbox) -> None:
    async with connect_sandbox(sandbox, config=fast_config()) as client:
        await login(client)
        await client.subscribe_spots(
            ctid_trader_account_id=ACCOUNT, symbol_id=[1], subscribe_to_spot_timestamp=True
        )
        await client.subscribe_depth_quotes(ctid_trader_account_id=ACCOUNT, symbol_id=[2])
        await client.v1_pnl_change_subscribe(ctid_trader_account_id=ACCOUNT)
        executions = client.events(ProtoOAExecutionEvent)
        lifecycle = client.events(Disconnected, Reconnected)
        first = await market_order(client)
        assert first.execution_type is ProtoOAExecutionType.ORDER_ACCEPTED

        sandbox.faults.delay_answers(5.0)
        in_flight = asyncio.ensure_future(client.version())
        await eventually(lambda: client.pending_requests == 1)
        await sandbox.faults.drop_connections()
        sandbox.faults.delay_answers(0)
        with pytest.raises(CTraderConnectionError):
            await in_flight
        assert isinstance(await lifecycle.get(5), Disconnected)
        reconnected = await lifecycle.get(5)
        assert isinstance(reconnected, Reconnected) and reconnected.errors == ()

        second = await market_order(client)
        assert second.execution_type is ProtoOAExecutionType.ORDER_ACCEPTED
        kinds = [(await executions.get(2)).execution_type for _ in range(4)]
        assert kinds == [ProtoOAExecutionType.ORDER_ACCEPTED, ProtoOAExecutionType.ORDER_FILLED] * 2

        async with client.events(ProtoOASpotEvent) as spots:  # the subscription came back, option included
            spot = await spots.get(5)
        assert spot.symbol_id == 1 and spot.timestamp is not None
        stats = sandbox.stats
        restored: list[type[Any]] = [
            ProtoOAApplicationAuthReq,
            ProtoOAAccountAuthReq,
            ProtoOASubscribeSpotsReq,
            ProtoOASubscribeDepthQuotesReq,
            ProtoOAv1PnLChangeSubscribeReq,
        ]
        for cls in restored:
            assert stats.received(cls) == 2, cls.__name__
        assert stats.connections_total == 2


@pytest.mark.parametrize("fault", ["garbage", "oversize"])
async def test_sandbox_faults_give_protocol_errors_and_recover(sandbox: Sandbox, fault: str) -> None:
    async with connect_sandbox(sandbox, config=fast_config()) as client:
        await login(client)
        lifecycle = client.events(Disconnected, Reconnected)
        if fault == "garbage":
            await sandbox.faults.send_garbage()
        else:
            await sandbox.faults.send_oversize()
        dropped = await lifecycle.get(5)
        assert isinstance(dropped, Disconnected)
        assert isinstance(dropped.error, FrameTooLargeError if fault == "oversize" else ProtocolError)
        assert isinstance(await lifecycle.get(5), Reconnected)
        assert (await client.trader(ctid_trader_account_id=ACCOUNT)).trader.ctid_trader_account_id == ACCOUNT


async def test_blackholed_server_is_declared_dead_and_replaced(sandbox: Sandbox) -> None:
    config = fast_config(heartbeat_interval=0.05, receive_timeout=0.4, request_timeout=0.5)
    async with connect_sandbox(sandbox, config=config) as client:
        await login(client)
        lifecycle = client.events(Disconnected, Reconnected)
        sandbox.faults.blackhole(True)
        dropped = await lifecycle.get(5)
        assert isinstance(dropped, Disconnected) and "nothing received" in str(dropped.error)
        sandbox.faults.blackhole(False)
        assert isinstance(await lifecycle.get(10), Reconnected)
        assert (await client.version()).version == "91"


async def test_slow_consumer_keeps_memory_bounded_and_counts_drops(sandbox: Sandbox) -> None:
    async with connect_sandbox(sandbox, config=fast_config()) as client:
        await login(client)
        received = 0

        def count(event: ProtoOASpotEvent) -> None:
            nonlocal received
            received += 1

        client.on(ProtoOASpotEvent, count)
        spots = client.events(ProtoOASpotEvent, buffer_size=500)
        await client.subscribe_spots(ctid_trader_account_id=ACCOUNT, symbol_id=[1])
        pushed = await sandbox.push_spots(ACCOUNT, 1, 50_000)
        assert pushed == 50_000
        await eventually(lambda: received >= 50_000, timeout=30)
        assert spots.pending == 500  # never read: the buffer stayed at its bound
        assert spots.dropped == received - 500
        assert spots.dropped >= 49_500
        newest = [(await spots.get(1)).symbol_id for _ in range(500)]
        assert newest == [1] * 500


async def test_close_while_streaming_is_clean(sandbox: Sandbox) -> None:
    client = await connect_sandbox(sandbox, config=fast_config())
    await login(client)
    got = 0

    async def consume() -> None:
        nonlocal got
        async for _ in client.events(ProtoOASpotEvent):
            got += 1

    consumer = asyncio.ensure_future(consume())
    await client.subscribe_spots(ctid_trader_account_id=ACCOUNT, symbol_id=[1, 2, 4])
    burst = asyncio.ensure_future(sandbox.push_spots(ACCOUNT, 1, 20_000))
    await eventually(lambda: got > 100, timeout=15)
    await client.close()
    await asyncio.wait_for(consumer, 2)
    await burst
    assert [t for t in asyncio.all_tasks() if "ctrader-" in t.get_name()] == []


async def test_requests_do_not_wait_for_a_client_that_gave_up(sandbox: Sandbox) -> None:
    from ctrader_sdk import ReconnectPolicy

    policy = ReconnectPolicy(backoff=FAST_RECONNECT.backoff, max_attempts=2)
    client = Client(Endpoint(sandbox.host, sandbox.port), ssl=False, config=fast_config(reconnect=policy))
    await client.open()
    await sandbox.stop()  # gone for good
    await eventually(lambda: client.closed)
    with pytest.raises(CTraderConnectionError):
        await client.version()
    await client.close()


def test_default_config_is_the_vendor_one() -> None:
    assert ClientConfig().rate_limits == RateLimits()
