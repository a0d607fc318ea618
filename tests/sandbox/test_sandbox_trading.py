"""Trading: orders, positions, deals, protection, history and account state, over the wire and in the broker."""

from __future__ import annotations

import pytest

from ctrader_sdk._wire import Message
from ctrader_sdk.messages import (
    ProtoOAAmendOrderReq,
    ProtoOAAmendPositionSLTPReq,
    ProtoOACancelOrderReq,
    ProtoOACashFlowHistoryListReq,
    ProtoOACashFlowHistoryListRes,
    ProtoOAChangeBalanceType,
    ProtoOAClosePositionReq,
    ProtoOADealListByPositionIdReq,
    ProtoOADealListByPositionIdRes,
    ProtoOADealListReq,
    ProtoOADealListRes,
    ProtoOADealOffsetListReq,
    ProtoOADealOffsetListRes,
    ProtoOAExecutionEvent,
    ProtoOAExecutionType,
    ProtoOAExpectedMarginReq,
    ProtoOAExpectedMarginRes,
    ProtoOAGetPositionUnrealizedPnLReq,
    ProtoOAGetPositionUnrealizedPnLRes,
    ProtoOAMarginCall,
    ProtoOAMarginCallListReq,
    ProtoOAMarginCallListRes,
    ProtoOAMarginCallUpdateEvent,
    ProtoOAMarginCallUpdateReq,
    ProtoOAMarginCallUpdateRes,
    ProtoOANewOrderReq,
    ProtoOANotificationType,
    ProtoOAOrderDetailsReq,
    ProtoOAOrderDetailsRes,
    ProtoOAOrderErrorEvent,
    ProtoOAOrderListByPositionIdReq,
    ProtoOAOrderListByPositionIdRes,
    ProtoOAOrderListReq,
    ProtoOAOrderListRes,
    ProtoOAOrderStatus,
    ProtoOAOrderType,
    ProtoOAPositionStatus,
    ProtoOAReconcileReq,
    ProtoOAReconcileRes,
    ProtoOATimeInForce,
    ProtoOATraderReq,
    ProtoOATraderRes,
    ProtoOATradeSide,
    ProtoOATrailingSLChangedEvent,
    ProtoOAv1PnLChangeEvent,
    ProtoOAv1PnLChangeSubscribeReq,
    ProtoOAv1PnLChangeSubscribeRes,
    ProtoOAv1PnLChangeUnSubscribeReq,
    ProtoOAv1PnLChangeUnSubscribeRes,
)
from ctrader_sdk.sandbox import Sandbox
from ctrader_sdk.sandbox._trading import Account, TradingError

from .conftest import DEMO, DEMO_EUR, EURUSD, USDJPY, XAUUSD, Connect, RawClient

BUY, SELL = ProtoOATradeSide.BUY, ProtoOATradeSide.SELL
MARKET, LIMIT, STOP = ProtoOAOrderType.MARKET, ProtoOAOrderType.LIMIT, ProtoOAOrderType.STOP
LOT = 10_000_000  # one FX lot (100,000 units) in cents


def market(
    volume: int = 100_000, side: ProtoOATradeSide = BUY, symbol_id: int = EURUSD, **kw: object
) -> ProtoOANewOrderReq:
    return ProtoOANewOrderReq(
        ctid_trader_account_id=DEMO,
        symbol_id=symbol_id,
        order_type=MARKET,
        trade_side=side,
        volume=volume,
        **kw,  # type: ignore[arg-type]
    )


async def fill(
    client: RawClient, request: ProtoOANewOrderReq | ProtoOAClosePositionReq
) -> tuple[ProtoOAExecutionEvent, ProtoOAExecutionEvent]:
    """Send a market-type request; return its ORDER_ACCEPTED and ORDER_FILLED answers."""
    client.send(request, "trade")
    accepted = await client.answer("trade")
    filled = await client.answer("trade")
    assert isinstance(accepted, ProtoOAExecutionEvent) and isinstance(filled, ProtoOAExecutionEvent)
    assert accepted.execution_type == ProtoOAExecutionType.ORDER_ACCEPTED
    assert filled.execution_type == ProtoOAExecutionType.ORDER_FILLED
    return accepted, filled


async def refused(client: RawClient, request: object) -> ProtoOAOrderErrorEvent:
    answer = await client.request(request)  # type: ignore[arg-type]
    assert isinstance(answer, ProtoOAOrderErrorEvent), answer
    return answer


async def test_market_order_is_accepted_then_filled_into_a_position(
    sandbox: Sandbox, connect: Connect
) -> None:
    client = await connect(sandbox, login=(DEMO,))
    before = sandbox.quote(EURUSD)
    accepted, filled = await fill(
        client, market(volume=LOT, relative_stop_loss=50_000, relative_take_profit=80_000, label="t1")
    )
    assert (
        accepted.order is not None and accepted.position is None and accepted.deal is None
    )  # "position is absent"
    assert (
        accepted.order.order_status == ProtoOAOrderStatus.ORDER_STATUS_ACCEPTED
        and accepted.order.executed_volume == 0
    )
    order, position, deal = filled.order, filled.position, filled.deal
    assert order is not None and position is not None and deal is not None
    assert order.order_status == ProtoOAOrderStatus.ORDER_STATUS_FILLED and order.executed_volume == LOT
    assert position.position_status == ProtoOAPositionStatus.POSITION_STATUS_OPEN
    assert (position.trade_data.volume, position.trade_data.trade_side, position.trade_data.label) == (
        LOT,
        BUY,
        "t1",
    )
    assert deal.position_id == position.position_id == order.position_id and deal.order_id == order.order_id
    assert deal.execution_price == position.price and deal.filled_volume == LOT
    # A buy fills at the ask, in price units; relative protection is in 1/100000 of a price unit.
    price = position.price
    assert price is not None and abs(price * 100_000 - before.ask) < 200
    assert position.stop_loss == pytest.approx(round(price - 0.5, 5))
    assert position.take_profit == pytest.approx(round(price + 0.8, 5))
    assert position.used_margin and position.used_margin > 0 and position.money_digits == 2
    assert deal.commission is not None and deal.commission < 0  # 30 USD per million per side
    reconcile = await client.ok(ProtoOAReconcileReq(ctid_trader_account_id=DEMO), ProtoOAReconcileRes)
    assert [p.position_id for p in reconcile.position] == [position.position_id]


async def test_refused_orders_carry_vendor_codes(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    cases = [
        (market(volume=150_000), "TRADING_BAD_VOLUME"),  # not a multiple of the 100,000 step
        (market(volume=1_000), "TRADING_BAD_VOLUME"),  # below the minimum
        (market(symbol_id=555), "SYMBOL_NOT_FOUND"),
        (market(stop_loss=1.0), "TRADING_BAD_STOPS"),  # absolute SL/TP only for pending orders
        (market(relative_stop_loss=-5), "TRADING_BAD_STOPS"),
        (market(volume=1_000_000_000), "NOT_ENOUGH_MONEY"),  # 10 lots on 10,000 USD
        (market(position_id=424242), "POSITION_NOT_FOUND"),
        (
            ProtoOAClosePositionReq(ctid_trader_account_id=DEMO, position_id=424242, volume=100_000),
            "POSITION_NOT_FOUND",
        ),
        (ProtoOACancelOrderReq(ctid_trader_account_id=DEMO, order_id=424242), "ORDER_NOT_FOUND"),
        (
            ProtoOAAmendOrderReq(ctid_trader_account_id=DEMO, order_id=424242, volume=100_000),
            "ORDER_NOT_FOUND",
        ),
        (
            ProtoOAAmendPositionSLTPReq(ctid_trader_account_id=DEMO, position_id=424242, stop_loss=1.0),
            "POSITION_NOT_FOUND",
        ),
    ]
    for request, code in cases:
        answer = await refused(client, request)
        assert (answer.error_code, answer.ctid_trader_account_id) == (code, DEMO), request
        assert answer.description
    missing = await refused(
        client, ProtoOAClosePositionReq(ctid_trader_account_id=DEMO, position_id=777, volume=100_000)
    )
    assert missing.position_id == 777 and missing.description == "Position not found with id 777"
    not_authorised = await client.error(
        ProtoOANewOrderReq(
            ctid_trader_account_id=DEMO_EUR,
            symbol_id=EURUSD,
            order_type=MARKET,
            trade_side=BUY,
            volume=100_000,
        )
    )
    assert not_authorised.error_code == "ACCOUNT_NOT_AUTHORIZED"
    assert not sandbox.broker.accounts[DEMO].positions


async def test_close_partially_then_fully(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    start = (await client.ok(ProtoOATraderReq(ctid_trader_account_id=DEMO), ProtoOATraderRes)).trader.balance
    _, opened = await fill(client, market(volume=300_000, side=SELL, symbol_id=USDJPY))
    assert opened.position is not None and opened.deal is not None
    position_id = opened.position.position_id
    bad = await refused(
        client, ProtoOAClosePositionReq(ctid_trader_account_id=DEMO, position_id=position_id, volume=400_000)
    )
    assert bad.error_code == "TRADING_BAD_VOLUME" and bad.position_id == position_id
    accepted, partial = await fill(
        client, ProtoOAClosePositionReq(ctid_trader_account_id=DEMO, position_id=position_id, volume=100_000)
    )
    assert (
        accepted.order is not None
        and accepted.order.closing_order
        and accepted.order.trade_data.trade_side == BUY
    )
    assert partial.position is not None and partial.deal is not None
    assert partial.position.position_status == ProtoOAPositionStatus.POSITION_STATUS_OPEN
    assert partial.position.trade_data.volume == 200_000
    detail = partial.deal.close_position_detail
    assert detail is not None and detail.closed_volume == 100_000 and detail.money_digits == 2
    assert detail.entry_price == opened.position.price
    # Gross profit of a short: (entry - exit) * units, converted from JPY with 1/USDJPY.
    exit_price = partial.deal.execution_price
    assert exit_price is not None and detail.quote_to_deposit_conversion_rate is not None
    expected = (detail.entry_price - exit_price) * 1_000 * detail.quote_to_deposit_conversion_rate
    assert detail.gross_profit == round(expected * 100)
    assert detail.balance == start + detail.gross_profit + detail.commission
    _, final = await fill(
        client, ProtoOAClosePositionReq(ctid_trader_account_id=DEMO, position_id=position_id, volume=200_000)
    )
    assert (
        final.position is not None and final.deal is not None and final.deal.close_position_detail is not None
    )
    assert final.position.position_status == ProtoOAPositionStatus.POSITION_STATUS_CLOSED
    assert final.position.trade_data.volume == 0 and final.position.trade_data.close_timestamp
    trader = (await client.ok(ProtoOATraderReq(ctid_trader_account_id=DEMO), ProtoOATraderRes)).trader
    assert trader.balance == final.deal.close_position_detail.balance
    assert trader.balance_version == final.deal.close_position_detail.balance_version == 3
    assert not (
        await client.ok(ProtoOAReconcileReq(ctid_trader_account_id=DEMO), ProtoOAReconcileRes)
    ).position
    closed = await refused(
        client, ProtoOAClosePositionReq(ctid_trader_account_id=DEMO, position_id=position_id, volume=100_000)
    )
    assert closed.error_code == "POSITION_NOT_FOUND"

    # History: deals, orders, offsets.
    deals = (await client.ok(ProtoOADealListReq(ctid_trader_account_id=DEMO), ProtoOADealListRes)).deal
    assert [d.position_id for d in deals] == [position_id] * 3 and not [d for d in deals if d.volume <= 0]
    by_position = await client.ok(
        ProtoOADealListByPositionIdReq(ctid_trader_account_id=DEMO, position_id=position_id),
        ProtoOADealListByPositionIdRes,
    )
    assert [d.deal_id for d in by_position.deal] == [d.deal_id for d in deals] and not by_position.has_more
    offsets = await client.ok(
        ProtoOADealOffsetListReq(ctid_trader_account_id=DEMO, deal_id=opened.deal.deal_id),
        ProtoOADealOffsetListRes,
    )
    assert [(o.deal_id, o.volume) for o in offsets.offset_by] == [
        (partial.deal.deal_id, 100_000),
        (final.deal.deal_id, 200_000),
    ]
    closing = await client.ok(
        ProtoOADealOffsetListReq(ctid_trader_account_id=DEMO, deal_id=final.deal.deal_id),
        ProtoOADealOffsetListRes,
    )
    assert [(o.deal_id, o.volume) for o in closing.offsetting] == [(opened.deal.deal_id, 200_000)]
    orders = await client.ok(
        ProtoOAOrderListByPositionIdReq(ctid_trader_account_id=DEMO, position_id=position_id),
        ProtoOAOrderListByPositionIdRes,
    )
    assert len(orders.order) == 3 and orders.order[0].order_id > orders.order[-1].order_id  # newest first
    assert opened.order is not None
    details = await client.ok(
        ProtoOAOrderDetailsReq(ctid_trader_account_id=DEMO, order_id=opened.order.order_id),
        ProtoOAOrderDetailsRes,
    )
    assert [d.deal_id for d in details.deal] == [opened.deal.deal_id]
    all_orders = await client.ok(ProtoOAOrderListReq(ctid_trader_account_id=DEMO), ProtoOAOrderListRes)
    assert len(all_orders.order) == 3 and not all_orders.has_more
    assert (
        await client.error(ProtoOAOrderDetailsReq(ctid_trader_account_id=DEMO, order_id=1))
    ).error_code == "ORDER_NOT_FOUND"
    unknown_deal = await client.error(ProtoOADealOffsetListReq(ctid_trader_account_id=DEMO, deal_id=1))
    assert unknown_deal.error_code == "ENTITY_NOT_FOUND"


async def test_pending_orders_accept_amend_and_cancel(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    ask = sandbox.quote(XAUUSD).ask / 100_000
    limit = round(ask - 20, 2)
    request = ProtoOANewOrderReq(
        ctid_trader_account_id=DEMO,
        symbol_id=XAUUSD,
        order_type=LIMIT,
        trade_side=BUY,
        volume=1_000,
        limit_price=limit,
        stop_loss=round(limit - 10, 2),
    )
    accepted = await client.request(request)
    assert (
        isinstance(accepted, ProtoOAExecutionEvent)
        and accepted.execution_type == ProtoOAExecutionType.ORDER_ACCEPTED
    )
    assert accepted.order is not None and accepted.position is not None
    assert accepted.position.position_status == ProtoOAPositionStatus.POSITION_STATUS_CREATED
    assert (
        accepted.order.time_in_force == ProtoOATimeInForce.GOOD_TILL_CANCEL
        and accepted.order.limit_price == limit
    )
    order_id = accepted.order.order_id
    reconcile = await client.ok(ProtoOAReconcileReq(ctid_trader_account_id=DEMO), ProtoOAReconcileRes)
    assert [o.order_id for o in reconcile.order] == [order_id] and not reconcile.position
    wrong_side = await refused(
        client,
        ProtoOANewOrderReq(
            ctid_trader_account_id=DEMO,
            symbol_id=XAUUSD,
            order_type=LIMIT,
            trade_side=BUY,
            volume=1_000,
            limit_price=round(ask + 20, 2),
        ),
    )
    assert wrong_side.error_code == "TRADING_BAD_PRICES"
    no_price = await refused(
        client,
        ProtoOANewOrderReq(
            ctid_trader_account_id=DEMO, symbol_id=XAUUSD, order_type=STOP, trade_side=BUY, volume=1_000
        ),
    )
    assert no_price.error_code == "TRADING_BAD_PRICES"
    amended = await client.request(
        ProtoOAAmendOrderReq(
            ctid_trader_account_id=DEMO, order_id=order_id, volume=2_000, limit_price=round(limit - 1, 2)
        )
    )
    assert (
        isinstance(amended, ProtoOAExecutionEvent)
        and amended.execution_type == ProtoOAExecutionType.ORDER_REPLACED
    )
    assert amended.order is not None and (amended.order.trade_data.volume, amended.order.limit_price) == (
        2_000,
        round(limit - 1, 2),
    )
    bad_amend = await refused(
        client, ProtoOAAmendOrderReq(ctid_trader_account_id=DEMO, order_id=order_id, volume=2_050)
    )
    assert (bad_amend.error_code, bad_amend.order_id) == ("TRADING_BAD_VOLUME", order_id)
    cancelled = await client.request(ProtoOACancelOrderReq(ctid_trader_account_id=DEMO, order_id=order_id))
    assert (
        isinstance(cancelled, ProtoOAExecutionEvent)
        and cancelled.execution_type == ProtoOAExecutionType.ORDER_CANCELLED
    )
    assert (
        cancelled.order is not None
        and cancelled.order.order_status == ProtoOAOrderStatus.ORDER_STATUS_CANCELLED
    )
    again = await refused(client, ProtoOACancelOrderReq(ctid_trader_account_id=DEMO, order_id=order_id))
    assert again.error_code == "ORDER_NOT_FOUND" and again.order_id == order_id
    assert not (await client.ok(ProtoOAReconcileReq(ctid_trader_account_id=DEMO), ProtoOAReconcileRes)).order


async def test_amend_position_protection(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    _, opened = await fill(client, market(volume=200_000))
    assert opened.position is not None
    position_id = opened.position.position_id
    bid = sandbox.quote(EURUSD).bid / 100_000
    stop, target = round(bid - 0.01, 5), round(bid + 0.01, 5)
    amended = await client.request(
        ProtoOAAmendPositionSLTPReq(
            ctid_trader_account_id=DEMO, position_id=position_id, stop_loss=stop, take_profit=target
        )
    )
    assert (
        isinstance(amended, ProtoOAExecutionEvent)
        and amended.execution_type == ProtoOAExecutionType.ORDER_REPLACED
    )
    assert amended.position is not None and (amended.position.stop_loss, amended.position.take_profit) == (
        stop,
        target,
    )
    assert amended.order is not None and amended.order.order_type == ProtoOAOrderType.STOP_LOSS_TAKE_PROFIT
    with_protection = await client.ok(
        ProtoOAReconcileReq(ctid_trader_account_id=DEMO, return_protection_orders=True), ProtoOAReconcileRes
    )
    assert [o.order_type for o in with_protection.order] == [ProtoOAOrderType.STOP_LOSS_TAKE_PROFIT]
    wrong = await refused(
        client,
        ProtoOAAmendPositionSLTPReq(
            ctid_trader_account_id=DEMO, position_id=position_id, take_profit=round(bid - 0.01, 5)
        ),
    )
    assert wrong.error_code == "TRADING_BAD_STOPS" and wrong.position_id == position_id
    assert wrong.description and wrong.description.startswith("New TP for BUY position should be >")


async def test_execution_events_reach_every_connection_of_the_account(
    sandbox: Sandbox, connect: Connect
) -> None:
    trader = await connect(sandbox, login=(DEMO,))
    watcher = await connect(sandbox, login=(DEMO,))
    other = await connect(sandbox, login=(DEMO_EUR,))
    await fill(trader, market())
    seen = [await watcher.event(ProtoOAExecutionEvent) for _ in range(2)]
    assert [e.execution_type for e in seen] == [
        ProtoOAExecutionType.ORDER_ACCEPTED,
        ProtoOAExecutionType.ORDER_FILLED,
    ]
    await other.ok(ProtoOATraderReq(ctid_trader_account_id=DEMO_EUR), ProtoOATraderRes)
    assert not [e for e in other.inbox if isinstance(e.message, ProtoOAExecutionEvent)]


async def test_account_state_requests(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    watcher = await connect(sandbox, login=(DEMO,))
    margins = await client.ok(
        ProtoOAExpectedMarginReq(ctid_trader_account_id=DEMO, symbol_id=EURUSD, volume=[100_000, 1_000_000]),
        ProtoOAExpectedMarginRes,
    )
    assert [m.volume for m in margins.margin] == [100_000, 1_000_000] and margins.money_digits == 2
    small, big = margins.margin
    assert 0 < small.buy_margin < big.buy_margin and abs(big.buy_margin - 10 * small.buy_margin) <= 10
    _, opened = await fill(client, market(volume=LOT))
    assert opened.position is not None and opened.position.used_margin is not None
    assert abs(opened.position.used_margin - 100 * small.buy_margin) <= 100
    pnl = await client.ok(
        ProtoOAGetPositionUnrealizedPnLReq(ctid_trader_account_id=DEMO), ProtoOAGetPositionUnrealizedPnLRes
    )
    (entry,) = pnl.position_unrealized_pnl
    assert entry.position_id == opened.position.position_id
    assert entry.net_unrealized_pnl == entry.gross_unrealized_pnl + opened.position.commission  # type: ignore[operator]
    await client.ok(
        ProtoOAv1PnLChangeSubscribeReq(ctid_trader_account_id=DEMO), ProtoOAv1PnLChangeSubscribeRes
    )
    event = await client.event(ProtoOAv1PnLChangeEvent)
    assert event.money_digits == 2 and event.ctid_trader_account_id == DEMO
    await client.ok(
        ProtoOAv1PnLChangeUnSubscribeReq(ctid_trader_account_id=DEMO), ProtoOAv1PnLChangeUnSubscribeRes
    )
    twice = await client.error(ProtoOAv1PnLChangeUnSubscribeReq(ctid_trader_account_id=DEMO))
    assert twice.error_code == "NOT_SUBSCRIBED_TO_PNL"

    registered = sandbox.broker.accounts[DEMO].registered
    flows = await client.ok(
        ProtoOACashFlowHistoryListReq(
            ctid_trader_account_id=DEMO, from_timestamp=registered - 1000, to_timestamp=registered + 1000
        ),
        ProtoOACashFlowHistoryListRes,
    )
    (deposit,) = flows.deposit_withdraw
    assert (deposit.operation_type, deposit.delta, deposit.balance) == (
        ProtoOAChangeBalanceType.BALANCE_DEPOSIT,
        1_000_000,
        1_000_000,
    )
    too_long = await client.error(
        ProtoOACashFlowHistoryListReq(
            ctid_trader_account_id=DEMO, from_timestamp=0, to_timestamp=8 * 86_400_000
        )
    )
    assert too_long.error_code == "INCORRECT_BOUNDARIES"

    calls = await client.ok(ProtoOAMarginCallListReq(ctid_trader_account_id=DEMO), ProtoOAMarginCallListRes)
    assert len(calls.margin_call) == 3
    update = ProtoOAMarginCall(
        margin_call_type=ProtoOANotificationType.MARGIN_LEVEL_THRESHOLD_2, margin_level_threshold=150.0
    )
    await client.ok(
        ProtoOAMarginCallUpdateReq(ctid_trader_account_id=DEMO, margin_call=update),
        ProtoOAMarginCallUpdateRes,
    )
    changed = await watcher.event(ProtoOAMarginCallUpdateEvent)
    assert changed.margin_call.margin_level_threshold == 150.0
    calls = await client.ok(ProtoOAMarginCallListReq(ctid_trader_account_id=DEMO), ProtoOAMarginCallListRes)
    assert sorted(c.margin_level_threshold for c in calls.margin_call) == [60.0, 150.0, 200.0]


# ---------------------------------------------------------------------------------------------
# The broker as the market moves (pure: any instant can be replayed)

T0 = 1_750_000_000_000  # a fixed instant, so the seeded feed makes these tests exact


def demo(sb: Sandbox) -> Account:
    return sb.broker.accounts[DEMO]


def test_a_limit_order_fills_when_the_market_reaches_it() -> None:
    sb = Sandbox()
    feed, tick = sb.feed, sb.feed.tick_ms
    ask_now = feed.price(EURUSD, T0, "ask")
    window = [T0 + k * tick for k in range(1, 3_000)]
    best = min(feed.price(EURUSD, t, "ask") for t in window)
    assert best < ask_now, "the seeded feed dips within five minutes"
    stop, target = round(best - 0.002, 5), round(best + 0.003, 5)
    (accepted,) = sb.broker.new_order(
        demo(sb),
        symbol_id=EURUSD,
        order_type=LIMIT,
        side=BUY,
        volume=100_000,
        now=T0,
        limit_price=best,
        stop_loss=stop,
        take_profit=target,
    )
    assert accepted.order is not None
    fills = []
    for t in window:
        fills += sb.broker.on_tick(t)
        if fills:
            break
    ((account, event),) = fills
    assert (
        isinstance(event, ProtoOAExecutionEvent) and event.execution_type == ProtoOAExecutionType.ORDER_FILLED
    )
    assert (
        event.deal is not None
        and event.deal.execution_price is not None
        and event.deal.execution_price <= best
    )
    assert feed.price(EURUSD, t, "ask") <= best and account is demo(sb)
    # Absolute protection given on a pending order protects the position it fills.
    assert event.position is not None and (event.position.stop_loss, event.position.take_profit) == (
        stop,
        target,
    )


def test_stop_loss_closes_the_position_and_trailing_stops_follow() -> None:
    sb = Sandbox()
    tick, account = sb.feed.tick_ms, demo(sb)
    sb.broker.new_order(
        account, symbol_id=EURUSD, order_type=MARKET, side=BUY, volume=100_000, now=T0, relative_stop_loss=5
    )
    events: list[tuple[Account, Message]] = []
    t = T0
    while not any(isinstance(e, ProtoOAExecutionEvent) for _, e in events):
        t += tick
        events += sb.broker.on_tick(t)
        assert t < T0 + 3_600_000
    closes = [e for _, e in events if isinstance(e, ProtoOAExecutionEvent)]
    (closed,) = closes
    assert (
        closed.position is not None
        and closed.position.position_status == ProtoOAPositionStatus.POSITION_STATUS_CLOSED
    )
    assert closed.order is not None and closed.order.order_type == ProtoOAOrderType.STOP_LOSS_TAKE_PROFIT
    assert closed.deal is not None and closed.deal.close_position_detail is not None
    # Trailing: the stop follows a rising bid.
    sb.broker.new_order(
        account,
        symbol_id=EURUSD,
        order_type=MARKET,
        side=BUY,
        volume=100_000,
        now=t,
        relative_stop_loss=2_000,
        trailing_stop_loss=True,
    )
    trailed = []
    for k in range(1, 6_000):
        trailed += [
            e for _, e in sb.broker.on_tick(t + k * tick) if isinstance(e, ProtoOATrailingSLChangedEvent)
        ]
        if len(trailed) >= 2:
            break
    assert len(trailed) >= 2 and trailed[1].stop_price > trailed[0].stop_price


def test_good_till_date_orders_expire() -> None:
    sb = Sandbox()
    account = demo(sb)
    ask = sb.feed.price(EURUSD, T0, "ask")
    sb.broker.new_order(
        account,
        symbol_id=EURUSD,
        order_type=LIMIT,
        side=BUY,
        volume=100_000,
        now=T0,
        limit_price=round(ask - 0.05, 5),
        time_in_force=ProtoOATimeInForce.GOOD_TILL_DATE,
        expiration=T0 + 1_000,
    )
    assert sb.broker.on_tick(T0 + 500) == []
    ((_, expired),) = sb.broker.on_tick(T0 + 1_000)
    assert (
        isinstance(expired, ProtoOAExecutionEvent)
        and expired.execution_type == ProtoOAExecutionType.ORDER_EXPIRED
    )
    with pytest.raises(TradingError) as info:
        sb.broker.new_order(
            account,
            symbol_id=EURUSD,
            order_type=LIMIT,
            side=BUY,
            volume=100_000,
            now=T0,
            limit_price=round(ask - 0.05, 5),
            time_in_force=ProtoOATimeInForce.GOOD_TILL_DATE,
            expiration=T0 - 1,
        )
    assert info.value.code == "TRADING_BAD_EXPIRATION_DATE"
