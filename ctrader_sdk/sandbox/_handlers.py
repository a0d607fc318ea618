"""The request handlers: one per request type of the release, with the vendor's answers and errors.

:class:`Dispatcher` decodes a request, applies the gates every request passes (supported payload
type, rate limit, application authenticated, account authorised on this connection, token still
valid) and calls the handler, which answers with the generated messages. Errors follow the vendor:
``ProtoOAErrorRes`` with a ``ProtoOAErrorCode``/``ProtoErrorCode`` name, ``ProtoOAOrderErrorEvent``
for refused trading requests, ``ProtoErrorRes`` for frames that are not Open API requests at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ctrader_sdk._exceptions import DecodeError
from ctrader_sdk._generated.registry import PAYLOAD_TYPES, RELEASE
from ctrader_sdk._wire import Message
from ctrader_sdk.messages import (
    ProtoErrorCode,
    ProtoErrorRes,
    ProtoOAAccountAuthReq,
    ProtoOAAccountAuthRes,
    ProtoOAAccountDisconnectEvent,
    ProtoOAAccountLogoutReq,
    ProtoOAAccountLogoutRes,
    ProtoOAAmendOrderReq,
    ProtoOAAmendPositionSLTPReq,
    ProtoOAApplicationAuthReq,
    ProtoOAApplicationAuthRes,
    ProtoOAAssetClassListReq,
    ProtoOAAssetClassListRes,
    ProtoOAAssetListReq,
    ProtoOAAssetListRes,
    ProtoOACancelOrderReq,
    ProtoOACashFlowHistoryListReq,
    ProtoOACashFlowHistoryListRes,
    ProtoOAClientPermissionScope,
    ProtoOAClosePositionReq,
    ProtoOACtidProfile,
    ProtoOACtidTraderAccount,
    ProtoOADealListByPositionIdReq,
    ProtoOADealListByPositionIdRes,
    ProtoOADealListReq,
    ProtoOADealListRes,
    ProtoOADealOffsetListReq,
    ProtoOADealOffsetListRes,
    ProtoOAErrorCode,
    ProtoOAErrorRes,
    ProtoOAExpectedMargin,
    ProtoOAExpectedMarginReq,
    ProtoOAExpectedMarginRes,
    ProtoOAGetAccountListByAccessTokenReq,
    ProtoOAGetAccountListByAccessTokenRes,
    ProtoOAGetCtidProfileByTokenReq,
    ProtoOAGetCtidProfileByTokenRes,
    ProtoOAGetDynamicLeverageByIDReq,
    ProtoOAGetDynamicLeverageByIDRes,
    ProtoOAGetPositionUnrealizedPnLReq,
    ProtoOAGetPositionUnrealizedPnLRes,
    ProtoOAGetTickDataReq,
    ProtoOAGetTickDataRes,
    ProtoOAGetTrendbarsReq,
    ProtoOAGetTrendbarsRes,
    ProtoOAMarginCall,
    ProtoOAMarginCallListReq,
    ProtoOAMarginCallListRes,
    ProtoOAMarginCallUpdateEvent,
    ProtoOAMarginCallUpdateReq,
    ProtoOAMarginCallUpdateRes,
    ProtoOANewOrderReq,
    ProtoOAOrderDetailsReq,
    ProtoOAOrderDetailsRes,
    ProtoOAOrderErrorEvent,
    ProtoOAOrderListByPositionIdReq,
    ProtoOAOrderListByPositionIdRes,
    ProtoOAOrderListReq,
    ProtoOAOrderListRes,
    ProtoOAPositionUnrealizedPnL,
    ProtoOAQuoteType,
    ProtoOAReconcileReq,
    ProtoOAReconcileRes,
    ProtoOARefreshTokenReq,
    ProtoOARefreshTokenRes,
    ProtoOASubscribeDepthQuotesReq,
    ProtoOASubscribeDepthQuotesRes,
    ProtoOASubscribeLiveTrendbarReq,
    ProtoOASubscribeLiveTrendbarRes,
    ProtoOASubscribeSpotsReq,
    ProtoOASubscribeSpotsRes,
    ProtoOASymbolByIdReq,
    ProtoOASymbolByIdRes,
    ProtoOASymbolCategoryListReq,
    ProtoOASymbolCategoryListRes,
    ProtoOASymbolsForConversionReq,
    ProtoOASymbolsForConversionRes,
    ProtoOASymbolsListReq,
    ProtoOASymbolsListRes,
    ProtoOATickData,
    ProtoOATraderReq,
    ProtoOATraderRes,
    ProtoOAUnsubscribeDepthQuotesReq,
    ProtoOAUnsubscribeDepthQuotesRes,
    ProtoOAUnsubscribeLiveTrendbarReq,
    ProtoOAUnsubscribeLiveTrendbarRes,
    ProtoOAUnsubscribeSpotsReq,
    ProtoOAUnsubscribeSpotsRes,
    ProtoOAv1PnLChangeSubscribeReq,
    ProtoOAv1PnLChangeSubscribeRes,
    ProtoOAv1PnLChangeUnSubscribeReq,
    ProtoOAv1PnLChangeUnSubscribeRes,
    ProtoOAVersionReq,
    ProtoOAVersionRes,
)
from ctrader_sdk.sandbox._connection import AccountSession, Connection, SpotSubscription
from ctrader_sdk.sandbox._tokens import TokenState
from ctrader_sdk.sandbox._trading import TradingError

if TYPE_CHECKING:
    from ctrader_sdk.sandbox._server import Sandbox

__all__ = ["Dispatcher"]

logger = logging.getLogger("ctrader_sdk.sandbox")

#: The latest timestamp the vendor accepts in history requests (19th Jan 2038), in ms.
MAX_TIMESTAMP = 2_147_483_646_000
#: ``ProtoOACashFlowHistoryListReq`` may span one week at most.
_CASH_FLOW_MAX_SPAN = 604_800_000

Handler = Callable[[Connection, Any, str | None], None]


def error(
    code: ProtoOAErrorCode | ProtoErrorCode | str,
    description: str,
    account_id: int | None = None,
    *,
    retry_after: int | None = None,
) -> ProtoOAErrorRes:
    """The vendor's generic error answer, ``ProtoOAErrorRes``."""
    return ProtoOAErrorRes(
        ctid_trader_account_id=account_id,
        error_code=code if isinstance(code, str) else code.name,
        description=description,
        retry_after=retry_after,
    )


class Dispatcher:
    """Routes each request to its handler; every request of the release has one.

    Args:
        sandbox: the server whose state the handlers read and change.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self.handlers: dict[type[Message], Handler] = {
            ProtoOAApplicationAuthReq: self._application_auth,
            ProtoOAAccountAuthReq: self._account_auth,
            ProtoOAVersionReq: self._version,
            ProtoOANewOrderReq: self._new_order,
            ProtoOACancelOrderReq: self._cancel_order,
            ProtoOAAmendOrderReq: self._amend_order,
            ProtoOAAmendPositionSLTPReq: self._amend_position_sltp,
            ProtoOAClosePositionReq: self._close_position,
            ProtoOAAssetListReq: self._asset_list,
            ProtoOASymbolsListReq: self._symbols_list,
            ProtoOASymbolByIdReq: self._symbol_by_id,
            ProtoOASymbolsForConversionReq: self._symbols_for_conversion,
            ProtoOAAssetClassListReq: self._asset_class_list,
            ProtoOATraderReq: self._trader,
            ProtoOAReconcileReq: self._reconcile,
            ProtoOADealListReq: self._deal_list,
            ProtoOAOrderListReq: self._order_list,
            ProtoOAExpectedMarginReq: self._expected_margin,
            ProtoOACashFlowHistoryListReq: self._cash_flow_history,
            ProtoOAGetAccountListByAccessTokenReq: self._account_list,
            ProtoOARefreshTokenReq: self._refresh_token,
            ProtoOASubscribeSpotsReq: self._subscribe_spots,
            ProtoOAUnsubscribeSpotsReq: self._unsubscribe_spots,
            ProtoOASubscribeLiveTrendbarReq: self._subscribe_live_trendbar,
            ProtoOAUnsubscribeLiveTrendbarReq: self._unsubscribe_live_trendbar,
            ProtoOAGetTrendbarsReq: self._get_trendbars,
            ProtoOAGetTickDataReq: self._get_tick_data,
            ProtoOAGetCtidProfileByTokenReq: self._ctid_profile,
            ProtoOASubscribeDepthQuotesReq: self._subscribe_depth,
            ProtoOAUnsubscribeDepthQuotesReq: self._unsubscribe_depth,
            ProtoOASymbolCategoryListReq: self._symbol_category_list,
            ProtoOAAccountLogoutReq: self._account_logout,
            ProtoOAMarginCallListReq: self._margin_call_list,
            ProtoOAMarginCallUpdateReq: self._margin_call_update,
            ProtoOAGetDynamicLeverageByIDReq: self._dynamic_leverage,
            ProtoOADealListByPositionIdReq: self._deal_list_by_position,
            ProtoOAOrderDetailsReq: self._order_details,
            ProtoOAOrderListByPositionIdReq: self._order_list_by_position,
            ProtoOADealOffsetListReq: self._deal_offset_list,
            ProtoOAGetPositionUnrealizedPnLReq: self._position_unrealized_pnl,
            ProtoOAv1PnLChangeSubscribeReq: self._pnl_subscribe,
            ProtoOAv1PnLChangeUnSubscribeReq: self._pnl_unsubscribe,
        }
        self._by_payload_type: dict[int, tuple[type[Message], Handler]] = {
            cls.PAYLOAD_TYPE: (cls, handler)
            for cls, handler in self.handlers.items()
            if cls.PAYLOAD_TYPE is not None
        }

    # -----------------------------------------------------------------------------------------
    # Gates

    def handle(self, conn: Connection, payload_type: int, payload: bytes, client_msg_id: str | None) -> None:
        """Answer one request frame (payload not yet decoded)."""
        sb = self._sb
        entry = self._by_payload_type.get(payload_type)
        if entry is None or payload_type in sb.config.disabled_payload_types:
            self._unsupported(conn, payload_type, client_msg_id)
            return
        refusal = conn.limiter.check(payload_type, sb.loop_time())
        if refusal is not None:
            retry_after, text = refusal
            sb.stats.blocked_answers += 1
            conn.answer(
                [error(ProtoErrorCode.BLOCKED_PAYLOAD_TYPE, text, retry_after=retry_after)], client_msg_id
            )
            return
        cls, handler = entry
        try:
            message = cls.from_bytes(payload)
        except DecodeError as exc:
            conn.answer([error(ProtoErrorCode.INVALID_REQUEST, str(exc))], client_msg_id)
            return
        if not conn.app_authenticated and cls not in (ProtoOAApplicationAuthReq, ProtoOAVersionReq):
            text = "the application is not authenticated: send ProtoOAApplicationAuthReq first"
            conn.answer([error(ProtoOAErrorCode.CH_CLIENT_NOT_AUTHENTICATED, text)], client_msg_id)
            return
        try:
            handler(conn, message, client_msg_id)
        except Exception:
            logger.exception("sandbox handler for %s failed", cls.__name__)
            conn.answer(
                [error(ProtoErrorCode.UNKNOWN_ERROR, f"internal sandbox error in {cls.__name__}")],
                client_msg_id,
            )

    @staticmethod
    def _unsupported(conn: Connection, payload_type: int, client_msg_id: str | None) -> None:
        cls = PAYLOAD_TYPES.get(payload_type)
        if cls is None:
            text = f"payload type {payload_type} is not supported"
            conn.answer(
                [ProtoErrorRes(error_code=ProtoErrorCode.UNSUPPORTED_MESSAGE.name, description=text)],
                client_msg_id,
            )
        else:
            text = f"{cls.__name__} (payload type {payload_type}) is not a supported request"
            conn.answer([error(ProtoErrorCode.UNSUPPORTED_MESSAGE, text)], client_msg_id)

    def _session(self, conn: Connection, account_id: int, client_msg_id: str | None) -> AccountSession | None:
        """The active session of ``account_id``, or ``None`` after answering why it cannot be used."""
        session = conn.sessions.get(account_id)
        if session is None:
            text = f"trading account {account_id} is not authorized on this connection"
            conn.answer([error(ProtoOAErrorCode.ACCOUNT_NOT_AUTHORIZED, text, account_id)], client_msg_id)
            return None
        if (
            session.active
            and self._sb.tokens.state(session.token.access_token, self._sb.now_ms()) == TokenState.EXPIRED
        ):
            self._sb.expire_token(session.token)
        if session.ended is not None:
            text = (
                "the access token used to authorize the account has expired"
                if session.ended == ProtoOAErrorCode.OA_AUTH_TOKEN_EXPIRED.name
                else "the access token used to authorize the account is no longer valid"
            )
            conn.answer([error(session.ended, text, account_id)], client_msg_id)
            return None
        return session

    def _symbol_ok(
        self, conn: Connection, session: AccountSession, symbol_ids: list[int], cmid: str | None
    ) -> bool:
        unknown = [s for s in symbol_ids if s not in self._sb.catalogue.symbols]
        if unknown:
            text = f"Symbol not found with id {unknown[0]}"
            conn.answer([error(ProtoOAErrorCode.SYMBOL_NOT_FOUND, text, session.account.account_id)], cmid)
            return False
        return True

    def _range(
        self, conn: Connection, account_id: int, from_ms: int | None, to_ms: int | None, cmid: str | None
    ) -> tuple[int, int] | None:
        """The request's ``[from, to]`` with the vendor's defaults and bounds, or ``None`` after refusing."""
        now = self._sb.now_ms()
        start = 0 if from_ms is None else from_ms
        end = now if to_ms is None else to_ms
        if start < 0 or end > MAX_TIMESTAMP or start > end:
            text = f"invalid period: from {start} to {end} (0 <= from <= to <= {MAX_TIMESTAMP})"
            conn.answer([error(ProtoOAErrorCode.INCORRECT_BOUNDARIES, text, account_id)], cmid)
            return None
        return start, end

    # -----------------------------------------------------------------------------------------
    # Application, tokens and accounts

    def _application_auth(self, conn: Connection, req: ProtoOAApplicationAuthReq, cmid: str | None) -> None:
        config = self._sb.config
        if conn.app_authenticated:
            text = "the application is already authenticated on this connection"
            conn.answer([error(ProtoOAErrorCode.CH_CLIENT_ALREADY_AUTHENTICATED, text)], cmid)
        elif req.client_id != config.client_id or req.client_secret != config.client_secret:
            text = "Open API client is not activated or wrong client credentials"
            conn.answer([error(ProtoOAErrorCode.CH_CLIENT_AUTH_FAILURE, text)], cmid)
        else:
            conn.app_authenticated = True
            conn.answer([ProtoOAApplicationAuthRes()], cmid)

    def _version(self, conn: Connection, req: ProtoOAVersionReq, cmid: str | None) -> None:
        conn.answer([ProtoOAVersionRes(version=RELEASE)], cmid)

    def _token_error(
        self, conn: Connection, state: TokenState, cmid: str | None, account_id: int | None = None
    ) -> bool:
        """Answer the error for an unusable token; False when the token is valid."""
        if state == TokenState.VALID:
            return False
        text = {
            TokenState.EXPIRED: "the access token has expired",
            TokenState.REVOKED: "the access token was replaced by a refresh and is no longer valid",
            TokenState.UNKNOWN: "the access token is invalid",
        }[state]
        conn.answer([error(ProtoOAErrorCode.CH_ACCESS_TOKEN_INVALID, text, account_id)], cmid)
        return True

    def _account_list(
        self, conn: Connection, req: ProtoOAGetAccountListByAccessTokenReq, cmid: str | None
    ) -> None:
        sb = self._sb
        if self._token_error(conn, sb.tokens.state(req.access_token, sb.now_ms()), cmid):
            return
        token = sb.tokens.lookup(req.access_token)
        assert token is not None
        accounts = []
        for account_id in sorted(token.account_ids):
            account = sb.broker.accounts[account_id]
            closes = [d.created for d in account.deals.values() if d.close_detail is not None]
            accounts.append(
                ProtoOACtidTraderAccount(
                    ctid_trader_account_id=account_id,
                    is_live=account.config.is_live,
                    trader_login=account.config.trader_login,
                    last_closing_deal_timestamp=max(closes) if closes else None,
                    last_balance_update_timestamp=account.cash_flows[-1].change_balance_timestamp,
                    broker_title_short=account.config.broker_name,
                )
            )
        res = ProtoOAGetAccountListByAccessTokenRes(
            access_token=req.access_token,
            permission_scope=ProtoOAClientPermissionScope.SCOPE_TRADE,
            ctid_trader_account=accounts,
        )
        conn.answer([res], cmid)

    def _ctid_profile(self, conn: Connection, req: ProtoOAGetCtidProfileByTokenReq, cmid: str | None) -> None:
        sb = self._sb
        if not self._token_error(conn, sb.tokens.state(req.access_token, sb.now_ms()), cmid):
            profile = ProtoOACtidProfile(user_id=sb.config.ctid_user_id)
            conn.answer([ProtoOAGetCtidProfileByTokenRes(profile=profile)], cmid)

    def _refresh_token(self, conn: Connection, req: ProtoOARefreshTokenReq, cmid: str | None) -> None:
        sb = self._sb
        refreshed = sb.tokens.refresh(req.refresh_token, sb.now_ms())
        if refreshed is None:
            text = "the refresh token is invalid or was already used"
            conn.answer([error(ProtoOAErrorCode.CH_ACCESS_TOKEN_INVALID, text)], cmid)
            return
        old, new = refreshed
        res = ProtoOARefreshTokenRes(
            access_token=new.access_token,
            token_type="bearer",
            expires_in=sb.tokens.lifetime_ms // 1000,
            refresh_token=new.refresh_token,
        )
        conn.answer([res], cmid)
        sb.token_issued(new)
        sb.end_token_sessions(old, ProtoOAErrorCode.CH_ACCESS_TOKEN_INVALID, "Access Token was refreshed")

    def _account_auth(self, conn: Connection, req: ProtoOAAccountAuthReq, cmid: str | None) -> None:
        sb = self._sb
        account_id = req.ctid_trader_account_id
        state = sb.tokens.state(req.access_token, sb.now_ms())
        if state == TokenState.EXPIRED:
            text = "the access token used for account authorization has expired"
            conn.answer([error(ProtoOAErrorCode.OA_AUTH_TOKEN_EXPIRED, text, account_id)], cmid)
            return
        if self._token_error(conn, state, cmid, account_id):
            return
        token = sb.tokens.lookup(req.access_token)
        assert token is not None
        account = sb.broker.accounts.get(account_id)
        if account is None or account_id not in token.account_ids:
            text = f"trading account {account_id} is not found for this access token"
            conn.answer([error(ProtoOAErrorCode.CH_CTID_TRADER_ACCOUNT_NOT_FOUND, text, account_id)], cmid)
            return
        if account.config.is_live != sb.config.live:
            wanted = "live" if account.config.is_live else "demo"
            text = f"trading account {account_id} is a {wanted} account: connect to the {wanted} host"
            conn.answer([error(ProtoErrorCode.CANT_ROUTE_REQUEST, text, account_id)], cmid)
            return
        if conn.active_sessions(account_id) is not None:
            text = f"trading account {account_id} is already authorized on this connection"
            conn.answer([error(ProtoOAErrorCode.ALREADY_LOGGED_IN, text, account_id)], cmid)
            return
        conn.sessions[account_id] = AccountSession(account=account, token=token)
        conn.answer([ProtoOAAccountAuthRes(ctid_trader_account_id=account_id)], cmid)

    def _account_logout(self, conn: Connection, req: ProtoOAAccountLogoutReq, cmid: str | None) -> None:
        account_id = req.ctid_trader_account_id
        if self._session(conn, account_id, cmid) is None:
            return
        del conn.sessions[account_id]
        conn.answer(
            [ProtoOAAccountLogoutRes(ctid_trader_account_id=account_id)],
            cmid,
            then=[ProtoOAAccountDisconnectEvent(ctid_trader_account_id=account_id)],
        )

    def _trader(self, conn: Connection, req: ProtoOATraderReq, cmid: str | None) -> None:
        session = self._session(conn, req.ctid_trader_account_id, cmid)
        if session is not None:
            trader = self._sb.broker.trader(session.account)
            conn.answer(
                [ProtoOATraderRes(ctid_trader_account_id=req.ctid_trader_account_id, trader=trader)], cmid
            )

    # -----------------------------------------------------------------------------------------
    # Reference data

    def _asset_list(self, conn: Connection, req: ProtoOAAssetListReq, cmid: str | None) -> None:
        if self._session(conn, req.ctid_trader_account_id, cmid) is not None:
            assets = self._sb.catalogue.asset_messages()
            conn.answer(
                [ProtoOAAssetListRes(ctid_trader_account_id=req.ctid_trader_account_id, asset=assets)], cmid
            )

    def _asset_class_list(self, conn: Connection, req: ProtoOAAssetClassListReq, cmid: str | None) -> None:
        if self._session(conn, req.ctid_trader_account_id, cmid) is not None:
            classes = self._sb.catalogue.asset_class_messages()
            res = ProtoOAAssetClassListRes(
                ctid_trader_account_id=req.ctid_trader_account_id, asset_class=classes
            )
            conn.answer([res], cmid)

    def _symbol_category_list(
        self, conn: Connection, req: ProtoOASymbolCategoryListReq, cmid: str | None
    ) -> None:
        if self._session(conn, req.ctid_trader_account_id, cmid) is not None:
            categories = self._sb.catalogue.category_messages()
            res = ProtoOASymbolCategoryListRes(
                ctid_trader_account_id=req.ctid_trader_account_id, symbol_category=categories
            )
            conn.answer([res], cmid)

    def _symbols_list(self, conn: Connection, req: ProtoOASymbolsListReq, cmid: str | None) -> None:
        if self._session(conn, req.ctid_trader_account_id, cmid) is None:
            return
        catalogue = self._sb.catalogue
        res = ProtoOASymbolsListRes(
            ctid_trader_account_id=req.ctid_trader_account_id,
            symbol=[catalogue.light_symbol(spec) for spec in catalogue.symbols.values()],
            archived_symbol=(
                [catalogue.archived_symbol(sid) for sid in catalogue.archived]
                if req.include_archived_symbols
                else []
            ),
        )
        conn.answer([res], cmid)

    def _symbol_by_id(self, conn: Connection, req: ProtoOASymbolByIdReq, cmid: str | None) -> None:
        session = self._session(conn, req.ctid_trader_account_id, cmid)
        if session is None:
            return
        catalogue = self._sb.catalogue
        live = [sid for sid in req.symbol_id if sid not in catalogue.archived]
        if not self._symbol_ok(conn, session, live, cmid):
            return
        res = ProtoOASymbolByIdRes(
            ctid_trader_account_id=req.ctid_trader_account_id,
            symbol=[catalogue.full_symbol(catalogue.symbols[sid]) for sid in live],
            archived_symbol=[
                catalogue.archived_symbol(sid) for sid in req.symbol_id if sid in catalogue.archived
            ],
        )
        conn.answer([res], cmid)

    def _symbols_for_conversion(
        self, conn: Connection, req: ProtoOASymbolsForConversionReq, cmid: str | None
    ) -> None:
        account_id = req.ctid_trader_account_id
        if self._session(conn, account_id, cmid) is None:
            return
        catalogue = self._sb.catalogue
        for asset_id in (req.first_asset_id, req.last_asset_id):
            if asset_id not in catalogue.assets:
                conn.answer(
                    [
                        error(
                            ProtoErrorCode.ENTITY_NOT_FOUND, f"Asset not found with id {asset_id}", account_id
                        )
                    ],
                    cmid,
                )
                return
        first, last = catalogue.assets[req.first_asset_id].name, catalogue.assets[req.last_asset_id].name
        chain = catalogue.conversion_chain(first, last)
        if chain is None:
            text = f"no symbols convert {first} to {last}"
            conn.answer([error(ProtoOAErrorCode.SYMBOL_NOT_FOUND, text, account_id)], cmid)
            return
        res = ProtoOASymbolsForConversionRes(
            ctid_trader_account_id=account_id, symbol=[catalogue.light_symbol(spec) for spec, _ in chain]
        )
        conn.answer([res], cmid)

    def _dynamic_leverage(
        self, conn: Connection, req: ProtoOAGetDynamicLeverageByIDReq, cmid: str | None
    ) -> None:
        account_id = req.ctid_trader_account_id
        if self._session(conn, account_id, cmid) is None:
            return
        leverage = self._sb.catalogue.leverage_message(req.leverage_id)
        if leverage is None:
            text = f"Dynamic leverage not found with id {req.leverage_id}"
            conn.answer([error(ProtoErrorCode.ENTITY_NOT_FOUND, text, account_id)], cmid)
        else:
            conn.answer(
                [ProtoOAGetDynamicLeverageByIDRes(ctid_trader_account_id=account_id, leverage=leverage)], cmid
            )

    # -----------------------------------------------------------------------------------------
    # Market data

    def _subscribe_spots(self, conn: Connection, req: ProtoOASubscribeSpotsReq, cmid: str | None) -> None:
        session = self._session(conn, req.ctid_trader_account_id, cmid)
        if session is None or not self._symbol_ok(conn, session, req.symbol_id, cmid):
            return
        already = [sid for sid in req.symbol_id if sid in session.spots]
        if already:
            text = f"already subscribed to spots of symbol {already[0]}"
            conn.answer([error(ProtoOAErrorCode.ALREADY_SUBSCRIBED, text, req.ctid_trader_account_id)], cmid)
            return
        for sid in req.symbol_id:
            session.spots[sid] = SpotSubscription(timestamp=bool(req.subscribe_to_spot_timestamp))
        now = self._sb.now_ms()
        first = [self._sb.streams.spot_event(session, sid, now, force=True) for sid in req.symbol_id]
        conn.answer(
            [ProtoOASubscribeSpotsRes(ctid_trader_account_id=req.ctid_trader_account_id)],
            cmid,
            then=[e for e in first if e is not None],
        )

    def _unsubscribe_spots(self, conn: Connection, req: ProtoOAUnsubscribeSpotsReq, cmid: str | None) -> None:
        session = self._session(conn, req.ctid_trader_account_id, cmid)
        if session is None:
            return
        for sid in req.symbol_id:
            session.spots.pop(sid, None)
            session.trendbars = {(s, p) for s, p in session.trendbars if s != sid}
        conn.answer([ProtoOAUnsubscribeSpotsRes(ctid_trader_account_id=req.ctid_trader_account_id)], cmid)

    def _subscribe_live_trendbar(
        self, conn: Connection, req: ProtoOASubscribeLiveTrendbarReq, cmid: str | None
    ) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        if session is None or not self._symbol_ok(conn, session, [req.symbol_id], cmid):
            return
        if not req.period.is_known:
            conn.answer(
                [
                    error(
                        ProtoErrorCode.INVALID_REQUEST,
                        f"unknown trendbar period {int(req.period)}",
                        account_id,
                    )
                ],
                cmid,
            )
        elif req.symbol_id not in session.spots:
            text = f"subscribe to spots of symbol {req.symbol_id} before its live trendbars"
            conn.answer([error(ProtoOAErrorCode.NOT_SUBSCRIBED_TO_SPOTS, text, account_id)], cmid)
        elif (req.symbol_id, req.period) in session.trendbars:
            text = f"already subscribed to {req.period.name} live trendbars of symbol {req.symbol_id}"
            conn.answer([error(ProtoOAErrorCode.ALREADY_SUBSCRIBED, text, account_id)], cmid)
        else:
            session.trendbars.add((req.symbol_id, req.period))
            conn.answer([ProtoOASubscribeLiveTrendbarRes(ctid_trader_account_id=account_id)], cmid)

    def _unsubscribe_live_trendbar(
        self, conn: Connection, req: ProtoOAUnsubscribeLiveTrendbarReq, cmid: str | None
    ) -> None:
        session = self._session(conn, req.ctid_trader_account_id, cmid)
        if session is not None:
            session.trendbars.discard((req.symbol_id, req.period))
            conn.answer(
                [ProtoOAUnsubscribeLiveTrendbarRes(ctid_trader_account_id=req.ctid_trader_account_id)], cmid
            )

    def _subscribe_depth(
        self, conn: Connection, req: ProtoOASubscribeDepthQuotesReq, cmid: str | None
    ) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        if session is None or not self._symbol_ok(conn, session, req.symbol_id, cmid):
            return
        already = [sid for sid in req.symbol_id if sid in session.depth]
        if already:
            text = f"already subscribed to depth quotes of symbol {already[0]}"
            conn.answer([error(ProtoOAErrorCode.ALREADY_SUBSCRIBED, text, account_id)], cmid)
            return
        now = self._sb.now_ms()
        first = []
        for sid in req.symbol_id:
            session.depth[sid] = {}
            event = self._sb.streams.depth_event(session, sid, now)
            if event is not None:
                first.append(event)
        conn.answer([ProtoOASubscribeDepthQuotesRes(ctid_trader_account_id=account_id)], cmid, then=first)

    def _unsubscribe_depth(
        self, conn: Connection, req: ProtoOAUnsubscribeDepthQuotesReq, cmid: str | None
    ) -> None:
        session = self._session(conn, req.ctid_trader_account_id, cmid)
        if session is not None:
            for sid in req.symbol_id:
                session.depth.pop(sid, None)
            conn.answer(
                [ProtoOAUnsubscribeDepthQuotesRes(ctid_trader_account_id=req.ctid_trader_account_id)], cmid
            )

    def _get_trendbars(self, conn: Connection, req: ProtoOAGetTrendbarsReq, cmid: str | None) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        if session is None or not self._symbol_ok(conn, session, [req.symbol_id], cmid):
            return
        if not req.period.is_known:
            conn.answer(
                [
                    error(
                        ProtoErrorCode.INVALID_REQUEST,
                        f"unknown trendbar period {int(req.period)}",
                        account_id,
                    )
                ],
                cmid,
            )
            return
        bounds = self._range(conn, account_id, req.from_timestamp, req.to_timestamp, cmid)
        if bounds is None:
            return
        sb = self._sb
        start, end = bounds
        feed = sb.feed
        live_end = feed.slot(sb.now_ms()) + feed.tick_ms
        count = req.count if req.count else None
        bars, has_more = feed.trendbars(
            req.symbol_id, req.period, start, min(end, live_end), count, sb.config.max_trendbars
        )
        res = ProtoOAGetTrendbarsRes(
            ctid_trader_account_id=account_id,
            period=req.period,
            # Required up to release 88 ("equals toTimestamp from the request"): always set it.
            timestamp=end,
            trendbar=[feed.trendbar(req.symbol_id, req.period, bar) for bar in bars],
            symbol_id=req.symbol_id,
            has_more=has_more,
        )
        conn.answer([res], cmid)

    def _get_tick_data(self, conn: Connection, req: ProtoOAGetTickDataReq, cmid: str | None) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        if session is None or not self._symbol_ok(conn, session, [req.symbol_id], cmid):
            return
        if req.type_ not in (ProtoOAQuoteType.BID, ProtoOAQuoteType.ASK):
            conn.answer(
                [error(ProtoErrorCode.INVALID_REQUEST, f"unknown quote type {int(req.type_)}", account_id)],
                cmid,
            )
            return
        bounds = self._range(conn, account_id, req.from_timestamp, req.to_timestamp, cmid)
        if bounds is None:
            return
        sb = self._sb
        start, end = bounds
        live_end = sb.feed.slot(sb.now_ms()) + sb.feed.tick_ms
        ticks, has_more = sb.feed.ticks(
            req.symbol_id,
            req.type_ == ProtoOAQuoteType.ASK,
            start,
            min(end + 1, live_end),
            sb.config.max_ticks,
        )
        # The vendor's encoding, newest first: the first tick absolute, every later one as the
        # difference from the tick before it in the list (decode with a running sum).
        data = []
        previous_t = previous_p = 0
        for t, price in ticks:
            data.append(ProtoOATickData(timestamp=t - previous_t, tick=price - previous_p))
            previous_t, previous_p = t, price
        conn.answer(
            [ProtoOAGetTickDataRes(ctid_trader_account_id=account_id, tick_data=data, has_more=has_more)],
            cmid,
        )

    def _pnl_subscribe(self, conn: Connection, req: ProtoOAv1PnLChangeSubscribeReq, cmid: str | None) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        if session is None:
            return
        if session.pnl_subscribed:
            text = "already subscribed to PnL change events"
            conn.answer([error(ProtoOAErrorCode.ALREADY_SUBSCRIBED, text, account_id)], cmid)
            return
        session.pnl_subscribed = True
        event = self._sb.streams.pnl_event(session, self._sb.now_ms(), force=True)
        then = [] if event is None else [event]
        conn.answer([ProtoOAv1PnLChangeSubscribeRes(ctid_trader_account_id=account_id)], cmid, then=then)

    def _pnl_unsubscribe(
        self, conn: Connection, req: ProtoOAv1PnLChangeUnSubscribeReq, cmid: str | None
    ) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        if session is None:
            return
        if not session.pnl_subscribed:
            text = "this session is not subscribed via ProtoOAv1PnLChangeSubscribeReq"
            conn.answer([error(ProtoOAErrorCode.NOT_SUBSCRIBED_TO_PNL, text, account_id)], cmid)
            return
        session.pnl_subscribed = False
        session.pnl = None
        conn.answer([ProtoOAv1PnLChangeUnSubscribeRes(ctid_trader_account_id=account_id)], cmid)

    # -----------------------------------------------------------------------------------------
    # Trading

    def _trade(
        self, conn: Connection, session: AccountSession, cmid: str | None, operation: Callable[[], list[Any]]
    ) -> None:
        """Run a trading operation; publish its execution events or answer its refusal."""
        try:
            events = operation()
        except TradingError as exc:
            refusal = ProtoOAOrderErrorEvent(
                ctid_trader_account_id=session.account.account_id,
                error_code=exc.code,
                order_id=exc.order_id,
                position_id=exc.position_id,
                description=exc.description,
            )
            conn.answer([refusal], cmid)
            return
        self._sb.publish_execution(session.account, events, conn, cmid)

    def _new_order(self, conn: Connection, req: ProtoOANewOrderReq, cmid: str | None) -> None:
        session = self._session(conn, req.ctid_trader_account_id, cmid)
        if session is None:
            return
        broker, now = self._sb.broker, self._sb.now_ms()
        self._trade(
            conn,
            session,
            cmid,
            lambda: broker.new_order(
                session.account,
                symbol_id=req.symbol_id,
                order_type=req.order_type,
                side=req.trade_side,
                volume=req.volume,
                now=now,
                limit_price=req.limit_price,
                stop_price=req.stop_price,
                time_in_force=req.time_in_force,
                expiration=req.expiration_timestamp,
                stop_loss=req.stop_loss,
                take_profit=req.take_profit,
                comment=req.comment,
                base_slippage_price=req.base_slippage_price,
                slippage_in_points=req.slippage_in_points,
                label=req.label,
                position_id=req.position_id,
                client_order_id=req.client_order_id,
                relative_stop_loss=req.relative_stop_loss,
                relative_take_profit=req.relative_take_profit,
                guaranteed_stop_loss=req.guaranteed_stop_loss,
                trailing_stop_loss=req.trailing_stop_loss,
                stop_trigger_method=req.stop_trigger_method,
            ),
        )

    def _cancel_order(self, conn: Connection, req: ProtoOACancelOrderReq, cmid: str | None) -> None:
        session = self._session(conn, req.ctid_trader_account_id, cmid)
        if session is not None:
            broker, now = self._sb.broker, self._sb.now_ms()
            self._trade(conn, session, cmid, lambda: broker.cancel_order(session.account, req.order_id, now))

    def _amend_order(self, conn: Connection, req: ProtoOAAmendOrderReq, cmid: str | None) -> None:
        session = self._session(conn, req.ctid_trader_account_id, cmid)
        if session is None:
            return
        broker, now = self._sb.broker, self._sb.now_ms()
        self._trade(
            conn,
            session,
            cmid,
            lambda: broker.amend_order(
                session.account,
                req.order_id,
                now,
                volume=req.volume,
                limit_price=req.limit_price,
                stop_price=req.stop_price,
                expiration=req.expiration_timestamp,
                stop_loss=req.stop_loss,
                take_profit=req.take_profit,
                slippage_in_points=req.slippage_in_points,
                relative_stop_loss=req.relative_stop_loss,
                relative_take_profit=req.relative_take_profit,
                guaranteed_stop_loss=req.guaranteed_stop_loss,
                trailing_stop_loss=req.trailing_stop_loss,
                stop_trigger_method=req.stop_trigger_method,
            ),
        )

    def _amend_position_sltp(
        self, conn: Connection, req: ProtoOAAmendPositionSLTPReq, cmid: str | None
    ) -> None:
        session = self._session(conn, req.ctid_trader_account_id, cmid)
        if session is None:
            return
        broker, now = self._sb.broker, self._sb.now_ms()
        self._trade(
            conn,
            session,
            cmid,
            lambda: broker.amend_position_sltp(
                session.account,
                req.position_id,
                now,
                stop_loss=req.stop_loss,
                take_profit=req.take_profit,
                guaranteed_stop_loss=req.guaranteed_stop_loss,
                trailing_stop_loss=req.trailing_stop_loss,
                stop_loss_trigger_method=req.stop_loss_trigger_method,
            ),
        )

    def _close_position(self, conn: Connection, req: ProtoOAClosePositionReq, cmid: str | None) -> None:
        session = self._session(conn, req.ctid_trader_account_id, cmid)
        if session is not None:
            broker, now = self._sb.broker, self._sb.now_ms()
            self._trade(
                conn,
                session,
                cmid,
                lambda: broker.close_position(session.account, req.position_id, req.volume, now),
            )

    # -----------------------------------------------------------------------------------------
    # Account state and history

    def _reconcile(self, conn: Connection, req: ProtoOAReconcileReq, cmid: str | None) -> None:
        session = self._session(conn, req.ctid_trader_account_id, cmid)
        if session is None:
            return
        broker, account = self._sb.broker, session.account
        positions = [broker.position_proto(account, p) for p in account.open.values()]
        orders = list(account.pending.values())
        if req.return_protection_orders:
            orders += broker.protection_orders(account)
        res = ProtoOAReconcileRes(
            ctid_trader_account_id=account.account_id,
            position=positions,
            order=[o.to_proto() for o in orders],
        )
        conn.answer([res], cmid)

    def _deal_list(self, conn: Connection, req: ProtoOADealListReq, cmid: str | None) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        bounds = (
            None
            if session is None
            else self._range(conn, account_id, req.from_timestamp, req.to_timestamp, cmid)
        )
        if session is None or bounds is None:
            return
        limit = self._sb.config.max_history_rows
        if req.max_rows is not None and req.max_rows > 0:
            limit = min(limit, req.max_rows)
        deals = [d for d in session.account.deals.values() if bounds[0] <= d.created <= bounds[1]]
        has_more = len(deals) > limit
        deals = deals[-limit:]
        broker = self._sb.broker
        res = ProtoOADealListRes(
            ctid_trader_account_id=account_id,
            deal=[broker.deal_proto(session.account, d) for d in deals],
            has_more=has_more,
        )
        conn.answer([res], cmid)

    def _order_list(self, conn: Connection, req: ProtoOAOrderListReq, cmid: str | None) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        bounds = (
            None
            if session is None
            else self._range(conn, account_id, req.from_timestamp, req.to_timestamp, cmid)
        )
        if session is None or bounds is None:
            return
        orders = sorted(
            (
                o
                for o in session.account.orders.values()
                if bounds[0] <= (o.updated or o.created) <= bounds[1]
            ),
            key=lambda o: (o.updated or o.created, o.order_id),
        )
        limit = self._sb.config.max_history_rows
        res = ProtoOAOrderListRes(
            ctid_trader_account_id=account_id,
            order=[o.to_proto() for o in orders[-limit:]],
            has_more=len(orders) > limit,
        )
        conn.answer([res], cmid)

    def _deal_list_by_position(
        self, conn: Connection, req: ProtoOADealListByPositionIdReq, cmid: str | None
    ) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        bounds = (
            None
            if session is None
            else self._range(conn, account_id, req.from_timestamp, req.to_timestamp, cmid)
        )
        if session is None or bounds is None:
            return
        account = session.account
        if req.position_id not in account.positions:
            text = f"Position not found with id {req.position_id}"
            conn.answer([error(ProtoOAErrorCode.POSITION_NOT_FOUND, text, account_id)], cmid)
            return
        deals = [
            d
            for d in account.deals.values()
            if d.position_id == req.position_id and bounds[0] <= d.created <= bounds[1]
        ]
        limit = self._sb.config.max_history_rows
        broker = self._sb.broker
        res = ProtoOADealListByPositionIdRes(
            ctid_trader_account_id=account_id,
            deal=[broker.deal_proto(account, d) for d in deals[-limit:]],
            has_more=len(deals) > limit,
        )
        conn.answer([res], cmid)

    def _order_details(self, conn: Connection, req: ProtoOAOrderDetailsReq, cmid: str | None) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        if session is None:
            return
        account = session.account
        order = account.orders.get(req.order_id)
        if order is None:
            conn.answer(
                [
                    error(
                        ProtoOAErrorCode.ORDER_NOT_FOUND,
                        f"Order not found with id {req.order_id}",
                        account_id,
                    )
                ],
                cmid,
            )
            return
        broker = self._sb.broker
        deals = [
            broker.deal_proto(account, d) for d in account.deals.values() if d.order_id == order.order_id
        ]
        conn.answer(
            [ProtoOAOrderDetailsRes(ctid_trader_account_id=account_id, order=order.to_proto(), deal=deals)],
            cmid,
        )

    def _order_list_by_position(
        self, conn: Connection, req: ProtoOAOrderListByPositionIdReq, cmid: str | None
    ) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        bounds = (
            None
            if session is None
            else self._range(conn, account_id, req.from_timestamp, req.to_timestamp, cmid)
        )
        if session is None or bounds is None:
            return
        account = session.account
        if req.position_id not in account.positions:
            text = f"Position not found with id {req.position_id}"
            conn.answer([error(ProtoOAErrorCode.POSITION_NOT_FOUND, text, account_id)], cmid)
            return
        orders = sorted(
            (
                o
                for o in account.orders.values()
                if o.position_id == req.position_id and bounds[0] <= (o.updated or o.created) <= bounds[1]
            ),
            key=lambda o: (o.updated or o.created, o.order_id),
            reverse=True,  # newest first, as the vendor documents
        )
        limit = self._sb.config.max_history_rows
        res = ProtoOAOrderListByPositionIdRes(
            ctid_trader_account_id=account_id,
            order=[o.to_proto() for o in orders[:limit]],
            has_more=len(orders) > limit,
        )
        conn.answer([res], cmid)

    def _deal_offset_list(self, conn: Connection, req: ProtoOADealOffsetListReq, cmid: str | None) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        if session is None:
            return
        try:
            offset_by, offsetting = self._sb.broker.deal_offsets(session.account, req.deal_id)
        except TradingError as exc:
            conn.answer([error(exc.code, exc.description, account_id)], cmid)
            return
        res = ProtoOADealOffsetListRes(
            ctid_trader_account_id=account_id, offset_by=offset_by, offsetting=offsetting
        )
        conn.answer([res], cmid)

    def _cash_flow_history(
        self, conn: Connection, req: ProtoOACashFlowHistoryListReq, cmid: str | None
    ) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        bounds = (
            None
            if session is None
            else self._range(conn, account_id, req.from_timestamp, req.to_timestamp, cmid)
        )
        if session is None or bounds is None:
            return
        if bounds[1] - bounds[0] > _CASH_FLOW_MAX_SPAN:
            text = f"toTimestamp - fromTimestamp must not exceed {_CASH_FLOW_MAX_SPAN} ms (1 week)"
            conn.answer([error(ProtoOAErrorCode.INCORRECT_BOUNDARIES, text, account_id)], cmid)
            return
        flows = [
            f for f in session.account.cash_flows if bounds[0] <= f.change_balance_timestamp <= bounds[1]
        ]
        conn.answer(
            [ProtoOACashFlowHistoryListRes(ctid_trader_account_id=account_id, deposit_withdraw=flows)], cmid
        )

    def _expected_margin(self, conn: Connection, req: ProtoOAExpectedMarginReq, cmid: str | None) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        if session is None:
            return
        account = session.account
        try:
            margins = self._sb.broker.expected_margin(account, req.symbol_id, req.volume, self._sb.now_ms())
        except TradingError as exc:
            conn.answer([error(exc.code, exc.description, account_id)], cmid)
            return
        res = ProtoOAExpectedMarginRes(
            ctid_trader_account_id=account_id,
            margin=[ProtoOAExpectedMargin(volume=v, buy_margin=b, sell_margin=s) for v, b, s in margins],
            money_digits=account.money_digits,
        )
        conn.answer([res], cmid)

    def _position_unrealized_pnl(
        self, conn: Connection, req: ProtoOAGetPositionUnrealizedPnLReq, cmid: str | None
    ) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        if session is None:
            return
        account = session.account
        pnl = self._sb.broker.unrealized(account, self._sb.now_ms())
        res = ProtoOAGetPositionUnrealizedPnLRes(
            ctid_trader_account_id=account_id,
            position_unrealized_pnl=[
                ProtoOAPositionUnrealizedPnL(position_id=p, gross_unrealized_pnl=g, net_unrealized_pnl=n)
                for p, g, n in pnl
            ],
            money_digits=account.money_digits,
        )
        conn.answer([res], cmid)

    def _margin_call_list(self, conn: Connection, req: ProtoOAMarginCallListReq, cmid: str | None) -> None:
        session = self._session(conn, req.ctid_trader_account_id, cmid)
        if session is not None:
            calls = list(session.account.margin_calls.values())
            conn.answer([ProtoOAMarginCallListRes(margin_call=calls)], cmid)

    def _margin_call_update(
        self, conn: Connection, req: ProtoOAMarginCallUpdateReq, cmid: str | None
    ) -> None:
        account_id = req.ctid_trader_account_id
        session = self._session(conn, account_id, cmid)
        if session is None:
            return
        call = req.margin_call
        if not call.margin_call_type.is_known or not call.margin_level_threshold > 0:
            text = "marginCallType must be one of the three thresholds and marginLevelThreshold positive"
            conn.answer([error(ProtoErrorCode.INVALID_REQUEST, text, account_id)], cmid)
            return
        stored = ProtoOAMarginCall(
            margin_call_type=call.margin_call_type,
            margin_level_threshold=call.margin_level_threshold,
            utc_last_update_timestamp=self._sb.now_ms(),
        )
        session.account.margin_calls[call.margin_call_type] = stored
        conn.answer([ProtoOAMarginCallUpdateRes()], cmid)
        self._sb.publish(
            session.account,
            ProtoOAMarginCallUpdateEvent(ctid_trader_account_id=account_id, margin_call=stored),
        )
