"""``to_dict()`` / ``from_dict()``: JSON-safe dicts keyed by proto field names, round trip for every message."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from conformance.strategies import (
    ALL_MESSAGES,
    EDGE_PROFILES,
    assert_same_message,
    edge_instance,
    message_strategy,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrader_sdk import DecodeError
from ctrader_sdk import messages as m
from ctrader_sdk._wire import Message

IDS = [cls.__name__ for cls in ALL_MESSAGES]


def json_round_trip(message: Message) -> dict[str, Any]:
    data = message.to_dict()
    text = json.dumps(data, allow_nan=False)  # strictly JSON: no NaN/Infinity literals, no bytes
    loaded: dict[str, Any] = json.loads(text)
    assert loaded == data or any(v != v for v in _floats(data))  # NaN never compares equal
    return loaded


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in _floats(v)]
    if isinstance(value, list):
        return [f for v in value for f in _floats(v)]
    return []


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=IDS)
@settings(max_examples=15)
@given(data=st.data())
def test_dict_round_trip(cls: type[Message], data: st.DataObject) -> None:
    message = data.draw(message_strategy(cls), label="message")
    loaded = json_round_trip(message)
    assert set(loaded) <= {spec.proto_name for spec in cls._FIELDS}
    assert_same_message(message, cls.from_dict(loaded), exact_nan=False)


@pytest.mark.parametrize("profile", EDGE_PROFILES)
@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=IDS)
def test_dict_round_trip_edge_values(cls: type[Message], profile: str) -> None:
    message = edge_instance(cls, profile)
    loaded = json_round_trip(message)
    assert set(loaded) == {spec.proto_name for spec in cls._FIELDS}
    assert_same_message(message, cls.from_dict(loaded), exact_nan=False)


def test_dict_shape() -> None:
    msg = m.ProtoMessage(payload_type=2131, payload=b"\x00\xffbytes", client_msg_id="é")
    assert msg.to_dict() == {
        "payloadType": 2131,
        "payload": base64.b64encode(b"\x00\xffbytes").decode(),
        "clientMsgId": "é",
    }
    assert "payload" not in m.ProtoMessage(payload_type=1).to_dict()  # unset optional: left out
    req = m.ProtoOAAmendPositionSLTPReq(ctid_trader_account_id=-(1 << 63), position_id=1, stop_loss=math.nan)
    req.take_profit = math.inf
    out = req.to_dict()
    assert out["stopLoss"] == "NaN" and out["takeProfit"] == "Infinity"
    assert out["ctidTraderAccountId"] == -(1 << 63)  # a plain int
    req.take_profit = -math.inf
    assert req.to_dict()["takeProfit"] == "-Infinity"
    spot = m.ProtoOASpotEvent(ctid_trader_account_id=1, symbol_id=2, trendbar=[m.ProtoOATrendbar(volume=3)])
    spot.trendbar[0].period = m.ProtoOATrendbarPeriod.H1
    assert spot.to_dict()["trendbar"] == [{"volume": 3, "period": "H1"}]
    flag = m.ProtoOASubscribeSpotsReq(ctid_trader_account_id=1, subscribe_to_spot_timestamp=False)
    assert flag.to_dict()["subscribeToSpotTimestamp"] is False


def test_from_dict_accepts_attribute_names_and_json_forms() -> None:
    by_attr = m.ProtoOASpotEvent.from_dict({"ctid_trader_account_id": 1, "symbol_id": "2", "bid": "-0"})
    assert by_attr == m.ProtoOASpotEvent(ctid_trader_account_id=1, symbol_id=2, bid=0)
    assert (
        m.ProtoOASpotEvent.from_dict({"ctidTraderAccountId": "-9", "symbolId": 2}).ctid_trader_account_id
        == -9
    )
    sltp = m.ProtoOAAmendPositionSLTPReq.from_dict({"ctidTraderAccountId": 1, "positionId": 2, "stopLoss": 3})
    assert sltp.stop_loss == 3.0 and type(sltp.stop_loss) is float
    order = m.ProtoOANewOrderReq.from_dict(
        {"ctidTraderAccountId": 1, "symbolId": 1, "orderType": "LIMIT", "tradeSide": 2, "volume": 1}
    )
    assert order.order_type is m.ProtoOAOrderType.LIMIT and order.trade_side is m.ProtoOATradeSide.SELL
    payload = m.ProtoMessage.from_dict({"payloadType": 1, "payload": b"raw", "clientMsgId": None})
    assert payload.payload == b"raw" and payload.client_msg_id is None
    # payloadType (not a field) is tolerated when it is the message's own
    assert (
        m.ProtoOAVersionReq.from_dict({"payloadType": m.ProtoOAVersionReq.PAYLOAD_TYPE})
        == m.ProtoOAVersionReq()
    )


@pytest.mark.parametrize(
    ("cls", "data", "words"),
    [
        (m.ProtoOAVersionReq, {"nope": 1}, ["ProtoOAVersionReq", "nope"]),
        (m.ProtoOAVersionReq, {"payloadType": 1}, ["payloadType"]),
        (m.ProtoOASpotEvent, {"symbolId": 1}, ["ProtoOASpotEvent", "ctidTraderAccountId", "missing"]),
        (
            m.ProtoOASpotEvent,
            {"ctidTraderAccountId": "x1", "symbolId": 1},
            ["ProtoOASpotEvent.ctidTraderAccountId"],
        ),
        (m.ProtoOASpotEvent, {"ctidTraderAccountId": 1.5, "symbolId": 1}, ["ctidTraderAccountId"]),
        (m.ProtoOASpotEvent, {"ctidTraderAccountId": True, "symbolId": 1}, ["ctidTraderAccountId"]),
        (m.ProtoOASpotEvent, {"ctidTraderAccountId": None, "symbolId": 1}, ["ctidTraderAccountId"]),
        (m.ProtoOASpotEvent, {"ctidTraderAccountId": 1, "symbolId": 1, "trendbar": {}}, ["trendbar"]),
        (m.ProtoOASpotEvent, {"ctidTraderAccountId": 1, "symbolId": 1, "trendbar": [1]}, ["ProtoOATrendbar"]),
        (m.ProtoOASpotEvent, {"ctidTraderAccountId": 1, "symbolId": 1, "trendbar": [{}]}, ["volume"]),
        (m.ProtoOAVersionRes, {"version": 1}, ["ProtoOAVersionRes.version"]),
        (m.ProtoOAVersionRes, {"version": b"v"}, ["version"]),
        (
            m.ProtoOASubscribeSpotsReq,
            {"ctidTraderAccountId": 1, "subscribeToSpotTimestamp": 1},
            ["subscribe"],
        ),
        (m.ProtoOASubscribeSpotsReq, {"ctidTraderAccountId": 1, "symbolId": 5}, ["symbolId"]),
        (m.ProtoOASubscribeSpotsReq, {"ctidTraderAccountId": 1, "symbolId": ["a"]}, ["symbolId"]),
        (m.ProtoMessage, {"payloadType": 1, "payload": "not base64!"}, ["ProtoMessage.payload"]),
        (m.ProtoMessage, {"payloadType": 1, "payload": 5}, ["payload"]),
        (
            m.ProtoOANewOrderReq,
            {"ctidTraderAccountId": 1, "symbolId": 1, "orderType": "NOPE", "tradeSide": 1, "volume": 1},
            ["orderType", "NOPE"],
        ),
        (
            m.ProtoOANewOrderReq,
            {
                "ctidTraderAccountId": 1,
                "symbolId": 1,
                "orderType": 1,
                "tradeSide": 1,
                "volume": 1,
                "stopLoss": "x",
            },
            ["stopLoss"],
        ),
    ],
)
def test_from_dict_errors(cls: type[Message], data: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(DecodeError) as info:
        cls.from_dict(data)
    for word in words:
        assert word in str(info.value), str(info.value)


@pytest.mark.parametrize("data", [None, [], "text", 5])
def test_from_dict_needs_a_mapping(data: Any) -> None:
    with pytest.raises(DecodeError, match="ProtoOAVersionReq"):
        m.ProtoOAVersionReq.from_dict(data)
