"""Checked by mypy --strict in test_client_typing.py (never run): the client is typed end to end."""

from __future__ import annotations

from typing_extensions import assert_type

from ctrader_sdk import (
    Client,
    Connected,
    Disconnected,
    Endpoints,
    EventStream,
    Reconnected,
    Subscription,
)
from ctrader_sdk.messages import (
    ProtoOADepthEvent,
    ProtoOAExecutionEvent,
    ProtoOAGetAccountListByAccessTokenRes,
    ProtoOAGetTrendbarsRes,
    ProtoOAOrderType,
    ProtoOASpotEvent,
    ProtoOATradeSide,
    ProtoOATrendbarPeriod,
    ProtoOAVersionReq,
    ProtoOAVersionRes,
)


async def session() -> None:
    async with Client.connect(Endpoints.DEMO) as client:
        assert_type(client, Client)
        accounts = await client.get_account_list_by_access_token(access_token="t")
        assert_type(accounts, ProtoOAGetAccountListByAccessTokenRes)
        bars = await client.get_trendbars(
            ctid_trader_account_id=1, symbol_id=1, period=ProtoOATrendbarPeriod.H1
        )
        assert_type(bars, ProtoOAGetTrendbarsRes)
        assert_type(await client.request(ProtoOAVersionReq()), ProtoOAVersionRes)
        assert_type(await client.version(timeout=None), ProtoOAVersionRes)
        order = await client.new_order(
            ctid_trader_account_id=1,
            symbol_id=1,
            order_type=ProtoOAOrderType.MARKET,
            trade_side=ProtoOATradeSide.BUY,
            volume=100_000,
        )
        assert_type(order, ProtoOAExecutionEvent)

        spots = client.events(ProtoOASpotEvent, symbol_id=1)
        assert_type(spots, EventStream[ProtoOASpotEvent])
        async for spot in spots:
            assert_type(spot, ProtoOASpotEvent)
        async with client.events(ProtoOASpotEvent, ProtoOADepthEvent) as market:
            async for quote in market:
                assert_type(quote, ProtoOASpotEvent | ProtoOADepthEvent)
        lifecycle = client.events(Connected, Disconnected, Reconnected)
        assert_type(await lifecycle.get(1.0), Connected | Disconnected | Reconnected)

        def on_spot(event: ProtoOASpotEvent) -> None: ...

        assert_type(client.on(ProtoOASpotEvent, on_spot), Subscription)

    opened = await Client.connect(Endpoints.LIVE)
    assert_type(opened, Client)
    await opened.close()
