"""Checked by mypy --strict in test_typing.py: every assert_type here must hold."""

from __future__ import annotations

from typing_extensions import assert_type

from ctrader_sdk import Request
from ctrader_sdk._generated.requests import GeneratedRequests
from ctrader_sdk.messages import (
    ProtoOAExecutionEvent,
    ProtoOAGetTrendbarsRes,
    ProtoOANewOrderReq,
    ProtoOAOrderType,
    ProtoOASpotEvent,
    ProtoOASymbolsListRes,
    ProtoOATradeSide,
    ProtoOATrendbar,
    ProtoOATrendbarPeriod,
    ProtoOAv1PnLChangeSubscribeRes,
    ProtoOAVersionReq,
    ProtoOAVersionRes,
)


def messages(raw: bytes) -> None:
    req = ProtoOANewOrderReq(
        ctid_trader_account_id=1,
        symbol_id=1,
        order_type=ProtoOAOrderType.MARKET,
        trade_side=ProtoOATradeSide.BUY,
        volume=100_000,
    )
    assert_type(req.to_bytes(), bytes)
    assert_type(req.stop_loss, float | None)
    assert_type(req.RESPONSE_TYPE, type[ProtoOAExecutionEvent])
    spot = ProtoOASpotEvent.from_bytes(raw)
    assert_type(spot, ProtoOASpotEvent)
    assert_type(spot.bid, int | None)
    assert_type(spot.trendbar, list[ProtoOATrendbar])
    assert_type(ProtoOASpotEvent.from_dict(spot.to_dict()), ProtoOASpotEvent)
    period: ProtoOATrendbarPeriod = ProtoOATrendbarPeriod(9)
    assert_type(period.value, int)


async def requests(client: GeneratedRequests) -> None:
    assert_type(await client.version(), ProtoOAVersionRes)
    assert_type(await client.version(timeout=None), ProtoOAVersionRes)
    bars = await client.get_trendbars(
        ctid_trader_account_id=1,
        symbol_id=1,
        period=ProtoOATrendbarPeriod.H1,
        from_timestamp=0,
        to_timestamp=1,
    )
    assert_type(bars, ProtoOAGetTrendbarsRes)
    assert_type(bars.trendbar[0].low, int | None)
    assert_type(await client.symbols_list(ctid_trader_account_id=1), ProtoOASymbolsListRes)
    order = await client.new_order(
        ctid_trader_account_id=1,
        symbol_id=1,
        order_type=ProtoOAOrderType.MARKET,
        trade_side=ProtoOATradeSide.SELL,
        volume=1000,
        timeout=5.0,
    )
    assert_type(order, ProtoOAExecutionEvent)
    assert_type(
        await client.v1_pnl_change_subscribe(ctid_trader_account_id=1), ProtoOAv1PnLChangeSubscribeRes
    )
    # the generic primitive is typed by the request class
    assert_type(await client.request(ProtoOAVersionReq()), ProtoOAVersionRes)
    assert_type(
        await client.request(
            ProtoOANewOrderReq(
                ctid_trader_account_id=1,
                symbol_id=1,
                order_type=ProtoOAOrderType.MARKET,
                trade_side=ProtoOATradeSide.BUY,
                volume=1,
            )
        ),
        ProtoOAExecutionEvent,
    )
    generic: Request[ProtoOAVersionRes] = ProtoOAVersionReq()
    assert_type(await client.request(generic), ProtoOAVersionRes)
