"""One test per naming rule (codegen/naming.py)."""

from __future__ import annotations

import keyword

import pytest

from codegen import naming


@pytest.mark.parametrize(
    ("proto", "python"),
    [
        ("ctidTraderAccountId", "ctid_trader_account_id"),
        ("symbolId", "symbol_id"),
        ("swapRollover3Days", "swap_rollover3_days"),
        ("grossUnrealizedPnL", "gross_unrealized_pnl"),
        ("positionID", "position_id"),
        ("utcTimestampInMinutes", "utc_timestamp_in_minutes"),
        ("AmendPositionSLTP", "amend_position_sltp"),
        ("already_snake", "already_snake"),
        ("HTTPServer", "http_server"),
    ],
)
def test_snake_case(proto: str, python: str) -> None:
    assert naming.snake_case(proto) == python


@pytest.mark.parametrize(
    ("proto", "python"),
    [
        ("from", "from_"),
        ("type", "type_"),
        ("list", "list_"),
        ("class", "class_"),
        ("id", "id"),
        ("hash", "hash"),
    ],
)
def test_field_names_avoid_reserved_words(proto: str, python: str) -> None:
    assert naming.field_name(proto) == python


def test_reserved_names_cover_every_keyword_and_are_fixed() -> None:
    assert set(keyword.kwlist) <= naming.RESERVED_NAMES
    assert {"timeout", "request", "to_bytes", "PAYLOAD_TYPE"} <= naming.RESERVED_NAMES


@pytest.mark.parametrize(
    ("message", "method"),
    [
        ("ProtoOAGetTrendbarsReq", "get_trendbars"),
        ("ProtoOASymbolsListReq", "symbols_list"),
        ("ProtoOANewOrderReq", "new_order"),
        ("ProtoOAv1PnLChangeSubscribeReq", "v1_pnl_change_subscribe"),
        ("ProtoOAv1PnLChangeUnSubscribeReq", "v1_pnl_change_un_subscribe"),
        ("ProtoOAAmendPositionSLTPReq", "amend_position_sltp"),
        ("ProtoOAGetDynamicLeverageByIDReq", "get_dynamic_leverage_by_id"),
        ("ProtoOAGetPositionUnrealizedPnLReq", "get_position_unrealized_pnl"),
        ("ProtoOAGetCtidProfileByTokenReq", "get_ctid_profile_by_token"),
        ("ProtoHeartbeatReq", "heartbeat"),
    ],
)
def test_request_method_names(message: str, method: str) -> None:
    assert naming.request_method_name(message) == method


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("BLOCKED_PAYLOAD_TYPE", "BlockedPayloadTypeError"),
        ("OA_AUTH_TOKEN_EXPIRED", "OaAuthTokenExpiredError"),
    ],
)
def test_error_class_names(code: str, cls: str) -> None:
    assert naming.error_class_name(code) == cls
