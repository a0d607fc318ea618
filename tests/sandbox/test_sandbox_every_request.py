"""Every request of the release gets its documented answer from the sandbox."""

from __future__ import annotations

from collections.abc import Callable

from ctrader_sdk._generated.registry import REQUESTS, RESPONSE_OF, TRADING_REQUESTS
from ctrader_sdk._wire import Message
from ctrader_sdk.messages import (
    ProtoOAAccountAuthReq,
    ProtoOAAccountLogoutReq,
    ProtoOAAmendOrderReq,
    ProtoOAAmendPositionSLTPReq,
    ProtoOAApplicationAuthReq,
    ProtoOAAssetClassListReq,
    ProtoOAAssetListReq,
    ProtoOACancelOrderReq,
    ProtoOACashFlowHistoryListReq,
    ProtoOAClosePositionReq,
    ProtoOADealListByPositionIdReq,
    ProtoOADealListReq,
    ProtoOADealOffsetListReq,
    ProtoOAExecutionEvent,
    ProtoOAExpectedMarginReq,
    ProtoOAGetAccountListByAccessTokenReq,
    ProtoOAGetCtidProfileByTokenReq,
    ProtoOAGetDynamicLeverageByIDReq,
    ProtoOAGetPositionUnrealizedPnLReq,
    ProtoOAGetTickDataReq,
    ProtoOAGetTrendbarsReq,
    ProtoOAMarginCall,
    ProtoOAMarginCallListReq,
    ProtoOAMarginCallUpdateReq,
    ProtoOANewOrderReq,
    ProtoOANotificationType,
    ProtoOAOrderDetailsReq,
    ProtoOAOrderListByPositionIdReq,
    ProtoOAOrderListReq,
    ProtoOAOrderType,
    ProtoOAQuoteType,
    ProtoOAReconcileReq,
    ProtoOARefreshTokenReq,
    ProtoOASubscribeDepthQuotesReq,
    ProtoOASubscribeLiveTrendbarReq,
    ProtoOASubscribeSpotsReq,
    ProtoOASymbolByIdReq,
    ProtoOASymbolCategoryListReq,
    ProtoOASymbolsForConversionReq,
    ProtoOASymbolsListReq,
    ProtoOATraderReq,
    ProtoOATradeSide,
    ProtoOATrendbarPeriod,
    ProtoOAUnsubscribeDepthQuotesReq,
    ProtoOAUnsubscribeLiveTrendbarReq,
    ProtoOAUnsubscribeSpotsReq,
    ProtoOAv1PnLChangeSubscribeReq,
    ProtoOAv1PnLChangeUnSubscribeReq,
    ProtoOAVersionReq,
)
from ctrader_sdk.sandbox import Sandbox

from .conftest import ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, DEMO, EURUSD, XAUUSD, Connect


def test_the_dispatcher_handles_exactly_the_release_requests() -> None:
    assert set(Sandbox().dispatcher.handlers) == set(REQUESTS)
    assert len(REQUESTS) == 42


async def test_every_request_gets_its_documented_answer(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox)
    state: dict[str, int] = {}
    now = sandbox.now_ms()
    gold_ask = sandbox.quote(XAUUSD).ask / 100_000
    a = DEMO
    m1 = ProtoOATrendbarPeriod.M1
    steps: list[Callable[[], Message]] = [
        lambda: ProtoOAApplicationAuthReq(client_id=CLIENT_ID, client_secret=CLIENT_SECRET),
        lambda: ProtoOAVersionReq(),
        lambda: ProtoOAGetAccountListByAccessTokenReq(access_token=ACCESS_TOKEN),
        lambda: ProtoOAGetCtidProfileByTokenReq(access_token=ACCESS_TOKEN),
        lambda: ProtoOAAccountAuthReq(ctid_trader_account_id=a, access_token=ACCESS_TOKEN),
        lambda: ProtoOATraderReq(ctid_trader_account_id=a),
        lambda: ProtoOAAssetListReq(ctid_trader_account_id=a),
        lambda: ProtoOAAssetClassListReq(ctid_trader_account_id=a),
        lambda: ProtoOASymbolCategoryListReq(ctid_trader_account_id=a),
        lambda: ProtoOASymbolsListReq(ctid_trader_account_id=a),
        lambda: ProtoOASymbolByIdReq(ctid_trader_account_id=a, symbol_id=[EURUSD]),
        lambda: ProtoOASymbolsForConversionReq(ctid_trader_account_id=a, first_asset_id=1, last_asset_id=4),
        lambda: ProtoOAGetDynamicLeverageByIDReq(ctid_trader_account_id=a, leverage_id=1),
        lambda: ProtoOASubscribeSpotsReq(ctid_trader_account_id=a, symbol_id=[EURUSD]),
        lambda: ProtoOASubscribeLiveTrendbarReq(ctid_trader_account_id=a, period=m1, symbol_id=EURUSD),
        lambda: ProtoOAUnsubscribeLiveTrendbarReq(ctid_trader_account_id=a, period=m1, symbol_id=EURUSD),
        lambda: ProtoOAUnsubscribeSpotsReq(ctid_trader_account_id=a, symbol_id=[EURUSD]),
        lambda: ProtoOASubscribeDepthQuotesReq(ctid_trader_account_id=a, symbol_id=[EURUSD]),
        lambda: ProtoOAUnsubscribeDepthQuotesReq(ctid_trader_account_id=a, symbol_id=[EURUSD]),
        lambda: ProtoOAGetTrendbarsReq(ctid_trader_account_id=a, period=m1, symbol_id=EURUSD, count=10),
        lambda: ProtoOAGetTickDataReq(
            ctid_trader_account_id=a,
            symbol_id=EURUSD,
            type_=ProtoOAQuoteType.BID,
            from_timestamp=now - 60_000,
            to_timestamp=now,
        ),
        lambda: ProtoOANewOrderReq(
            ctid_trader_account_id=a,
            symbol_id=EURUSD,
            order_type=ProtoOAOrderType.MARKET,
            trade_side=ProtoOATradeSide.BUY,
            volume=200_000,
        ),
        lambda: ProtoOANewOrderReq(
            ctid_trader_account_id=a,
            symbol_id=XAUUSD,
            order_type=ProtoOAOrderType.LIMIT,
            trade_side=ProtoOATradeSide.BUY,
            volume=100,
            limit_price=round(gold_ask - 50, 2),
        ),
        lambda: ProtoOAAmendOrderReq(ctid_trader_account_id=a, order_id=state["pending"], volume=200),
        lambda: ProtoOAAmendPositionSLTPReq(
            ctid_trader_account_id=a,
            position_id=state["position"],
            stop_loss=round(state["price"] / 1e5 - 0.01, 5),
        ),
        lambda: ProtoOAReconcileReq(ctid_trader_account_id=a),
        lambda: ProtoOADealListReq(ctid_trader_account_id=a),
        lambda: ProtoOAOrderListReq(ctid_trader_account_id=a),
        lambda: ProtoOAExpectedMarginReq(ctid_trader_account_id=a, symbol_id=EURUSD, volume=[100_000]),
        lambda: ProtoOACashFlowHistoryListReq(
            ctid_trader_account_id=a, from_timestamp=now - 86_400_000, to_timestamp=now
        ),
        lambda: ProtoOADealListByPositionIdReq(ctid_trader_account_id=a, position_id=state["position"]),
        lambda: ProtoOAOrderDetailsReq(ctid_trader_account_id=a, order_id=state["order"]),
        lambda: ProtoOAOrderListByPositionIdReq(ctid_trader_account_id=a, position_id=state["position"]),
        lambda: ProtoOADealOffsetListReq(ctid_trader_account_id=a, deal_id=state["deal"]),
        lambda: ProtoOAGetPositionUnrealizedPnLReq(ctid_trader_account_id=a),
        lambda: ProtoOAMarginCallListReq(ctid_trader_account_id=a),
        lambda: ProtoOAMarginCallUpdateReq(
            ctid_trader_account_id=a,
            margin_call=ProtoOAMarginCall(
                margin_call_type=ProtoOANotificationType.MARGIN_LEVEL_THRESHOLD_1,
                margin_level_threshold=180.0,
            ),
        ),
        lambda: ProtoOAv1PnLChangeSubscribeReq(ctid_trader_account_id=a),
        lambda: ProtoOAv1PnLChangeUnSubscribeReq(ctid_trader_account_id=a),
        lambda: ProtoOAClosePositionReq(
            ctid_trader_account_id=a, position_id=state["position"], volume=100_000
        ),
        lambda: ProtoOACancelOrderReq(ctid_trader_account_id=a, order_id=state["pending"]),
        lambda: ProtoOARefreshTokenReq(refresh_token="sandbox-refresh"),
        lambda: ProtoOAAccountAuthReq(ctid_trader_account_id=a, access_token=sandbox.access_token),
        lambda: ProtoOAAccountLogoutReq(ctid_trader_account_id=a),
    ]
    answered: set[type[Message]] = set()
    for step in steps:
        request = step()
        answer = await client.request(request)
        expected = RESPONSE_OF[type(request)]
        assert isinstance(answer, expected), f"{type(request).__name__} answered {answer!r}"
        answered.add(type(request))
        if isinstance(answer, ProtoOAExecutionEvent) and answer.order is not None:
            assert type(request) in TRADING_REQUESTS
            if answer.order.order_type == ProtoOAOrderType.LIMIT and "pending" not in state:
                state["pending"] = answer.order.order_id
            elif answer.order.order_type == ProtoOAOrderType.MARKET and "order" not in state:
                envelope = await client.expect(  # ORDER_FILLED follows, answering the same request
                    lambda e: isinstance(e.message, ProtoOAExecutionEvent) and e.client_msg_id is not None
                )
                filled = envelope.message
                assert isinstance(filled, ProtoOAExecutionEvent) and filled.position and filled.deal
                state["order"] = answer.order.order_id
                state["position"] = filled.position.position_id
                state["deal"] = filled.deal.deal_id
                state["price"] = sandbox.quote(EURUSD).bid
    assert answered == set(REQUESTS)
