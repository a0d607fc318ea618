"""Checked by mypy --strict in test_typing.py: every line marked E must be an error (negative.expected)."""

from __future__ import annotations

from ctrader_sdk._generated.requests import GeneratedRequests
from ctrader_sdk.messages import (
    ProtoOAGetTrendbarsRes,
    ProtoOANewOrderReq,
    ProtoOAOrderType,
    ProtoOASpotEvent,
    ProtoOATradeSide,
    ProtoOATrendbarPeriod,
    ProtoOAVersionRes,
)


def missing_required_argument() -> None:
    ProtoOANewOrderReq(ctid_trader_account_id=1, symbol_id=1, order_type=ProtoOAOrderType.MARKET, volume=1)  # E


def wrong_enum_type() -> None:
    ProtoOANewOrderReq(
        ctid_trader_account_id=1,
        symbol_id=1,
        order_type=ProtoOATradeSide.BUY,  # E
        trade_side=ProtoOATradeSide.BUY,
        volume=1,
    )


def optional_used_as_required(spot: ProtoOASpotEvent) -> int:
    return spot.bid + 1  # E


def positional_arguments() -> None:
    ProtoOASpotEvent(1, 2)  # E


async def wrong_return_use(client: GeneratedRequests) -> None:
    version: ProtoOAVersionRes = await client.get_trendbars(  # E
        ctid_trader_account_id=1, symbol_id=1, period=ProtoOATrendbarPeriod.H1
    )
    bars: ProtoOAGetTrendbarsRes = await client.version()  # E
    await client.get_trendbars(ctid_trader_account_id=1, symbol_id=1)  # E
    await client.subscribe_spots(ctid_trader_account_id=1, symbol_id=1)  # E
    await client.version(timeout="5")  # E
    print(version, bars)
