"""Every message of the release against google protobuf (upb) compiled from the same ``.proto`` files.

For each of the 124 messages: the generated field specs agree with the upb descriptor; random
instances of ours encode to bytes upb parses to the same values and re-serialises to the very same
bytes, and upb's bytes decode back to the original; random upb messages (drawn from the upb
descriptors, not from our specs) decode to the same values. Deterministic edge-value instances
(zeros, minima, maxima, NaN/±inf, non-ASCII strings) and long repeated fields are checked the same way.

Legitimate differences from upb, and how they are handled here:

- Unknown enum values: the schema is proto2, whose enums are closed — upb moves an unknown value to
  its unknown-field set, while we keep it as an ``UNKNOWN_<n>`` pseudo-member (by design: servers
  add values before clients regenerate). The random instances therefore only use known members;
  unknown values are covered by ``tests/unit`` and by the differential fuzz test.
- ``payloadType`` (field 1 of every payload message) is not exposed and not encoded by us; upb-built
  messages that set it decode fine and it is left out of the comparison.
- Strings: we refuse invalid UTF-8 (upb does not check proto2 strings); never produced here.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrader_sdk import messages
from ctrader_sdk._generated.registry import MESSAGE_COUNT, PAYLOAD_TYPES
from ctrader_sdk._wire import Message

from .oracle import (
    KIND_OF_TYPE,
    Oracle,
    assert_bytes_identical,
    assert_matches_upb,
    fill_upb_values,
    upb_values_strategy,
)
from .strategies import (
    ALL_ENUMS,
    ALL_MESSAGES,
    EDGE_PROFILES,
    NASTY_STRINGS,
    assert_same_message,
    edge_instance,
    message_strategy,
    messages_with,
    required_only,
    split_fields,
    varint,
)

IDS = [cls.__name__ for cls in ALL_MESSAGES]
EXAMPLES = 25


def _check_round_trip(upb: Oracle, ours: Message) -> None:
    """ours → bytes → upb (same values) → upb bytes → ours (same message); and bytes identical."""
    data = ours.to_bytes()
    theirs = upb.new(ours)
    theirs.ParseFromString(data)
    assert theirs.IsInitialized(), theirs.FindInitializationErrors()
    assert_matches_upb(ours, theirs)
    upb_bytes = theirs.SerializeToString()
    assert_same_message(ours, type(ours).from_bytes(upb_bytes))
    assert_same_message(ours, type(ours).from_bytes(data))


# ---------------------------------------------------------------------------------------------
# The schema


def test_every_upb_message_and_enum_has_a_class(upb: Oracle) -> None:
    ours = {cls.__name__ for cls in ALL_MESSAGES}
    assert ours == set(upb.classes)
    assert len(ours) == MESSAGE_COUNT == 124
    upb_enums = {name for m in upb.modules for name in m.DESCRIPTOR.enum_types_by_name}
    assert {e.__name__ for e in ALL_ENUMS} == upb_enums
    assert len(upb_enums) == 29


@pytest.mark.parametrize("enum", ALL_ENUMS, ids=[e.__name__ for e in ALL_ENUMS])
def test_enum_values_match_descriptor(upb: Oracle, enum: Any) -> None:
    (descriptor,) = [
        m.DESCRIPTOR.enum_types_by_name[enum.__name__]
        for m in upb.modules
        if enum.__name__ in m.DESCRIPTOR.enum_types_by_name
    ]
    assert {m.name: int(m) for m in enum} == {v.name: v.number for v in descriptor.values}


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=IDS)
def test_fields_match_descriptor(upb: Oracle, cls: type[Message]) -> None:
    descriptor = upb.new(cls).DESCRIPTOR
    fields = {fd.name: fd for fd in descriptor.fields}
    payload_type = fields.get("payloadType")
    if payload_type is not None and payload_type.number == 1 and cls is not messages.ProtoMessage:
        # Not a constructor field: the class constant carries the declared default.
        assert payload_type.has_default_value
        assert cls.PAYLOAD_TYPE == payload_type.default_value
        assert PAYLOAD_TYPES[cls.PAYLOAD_TYPE] is cls
        del fields["payloadType"]
    else:
        assert cls.PAYLOAD_TYPE is None
    assert sorted(s.proto_name for s in cls._FIELDS) == sorted(fields)
    for spec in cls._FIELDS:
        fd = fields[spec.proto_name]
        assert spec.number == fd.number, spec
        assert spec.kind == KIND_OF_TYPE[fd.type], spec
        label = "repeated" if fd.is_repeated else "required" if fd.is_required else "optional"
        assert spec.label == label, spec
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            assert spec.type.__name__ == fd.message_type.name, spec
        elif fd.type == FieldDescriptor.TYPE_ENUM:
            assert spec.type.__name__ == fd.enum_type.name, spec
        else:
            assert spec.type is None, spec


def test_payload_types_registry_is_complete() -> None:
    with_type = {cls for cls in ALL_MESSAGES if cls.PAYLOAD_TYPE is not None}
    assert set(PAYLOAD_TYPES.values()) == with_type
    assert all(PAYLOAD_TYPES[cls.PAYLOAD_TYPE] is cls for cls in with_type)


# ---------------------------------------------------------------------------------------------
# Random instances, both ways


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=IDS)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_ours_to_upb_and_back(upb: Oracle, cls: type[Message], data: st.DataObject) -> None:
    """Our bytes parse in upb to the same values, upb's bytes decode to the same message, and (both
    encoders writing known fields in field-number order) the bytes are identical."""
    ours = data.draw(message_strategy(cls), label="ours")
    _check_round_trip(upb, ours)
    assert_bytes_identical(ours, upb.to_upb(ours).SerializeToString())


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=IDS)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_upb_to_ours(upb: Oracle, cls: type[Message], data: st.DataObject) -> None:
    theirs = upb.new(cls)
    fill_upb_values(theirs, data.draw(upb_values_strategy(theirs.DESCRIPTOR), label="upb values"))
    upb_bytes = theirs.SerializeToString()
    ours = cls.from_bytes(upb_bytes)
    # Fields upb set that we do not have (payloadType) are simply not compared; upb's re-parse of our
    # re-encoding then holds everything but them.
    assert_matches_upb(ours, theirs, no_unknown=False)
    again = upb.new(cls)
    again.ParseFromString(ours.to_bytes())
    assert_matches_upb(ours, again)


# ---------------------------------------------------------------------------------------------
# Edge values


@pytest.mark.parametrize("profile", EDGE_PROFILES)
@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=IDS)
def test_edge_values(upb: Oracle, cls: type[Message], profile: str) -> None:
    """Every field set (lists with two items) to zero / minimum / maximum / special values: NaN,
    ±inf, -0.0, int64 and uint64 extremes, -1 as a ten-byte varint, empty and non-ASCII strings."""
    ours = edge_instance(cls, profile)
    _check_round_trip(upb, ours)
    assert_bytes_identical(ours, upb.to_upb(ours).SerializeToString())


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=IDS)
def test_only_required_fields(upb: Oracle, cls: type[Message]) -> None:
    """Required fields set to zero values (and nothing else) are still encoded (proto2 presence)."""
    ours = required_only(cls)
    data = ours.to_bytes()
    theirs = upb.new(cls)
    theirs.ParseFromString(data)
    assert theirs.IsInitialized()
    assert_matches_upb(ours, theirs)
    assert_bytes_identical(ours, theirs.SerializeToString())
    required = [s for s in cls._FIELDS if s.label == "required"]
    assert [fd.name for fd, _ in theirs.ListFields()] == [
        s.proto_name for s in sorted(required, key=lambda s: s.number)
    ]


INT32_FIELDS = messages_with("int32", "optional")


@pytest.mark.parametrize(
    ("cls", "spec"), INT32_FIELDS, ids=[f"{c.__name__}.{s.name}" for c, s in INT32_FIELDS]
)
@pytest.mark.parametrize("value", [-1, -(1 << 31), -300])
def test_negative_int32_is_a_ten_byte_varint(upb: Oracle, cls: type[Message], spec: Any, value: int) -> None:
    ours = required_only(cls)
    setattr(ours, spec.name, value)
    data = ours.to_bytes()
    assert_bytes_identical(ours, upb.to_upb(ours).SerializeToString())
    ten_bytes = varint(value)
    assert len(ten_bytes) == 10 and ten_bytes[-1] == 0x01
    assert varint(spec.number << 3) + ten_bytes in data
    assert getattr(type(ours).from_bytes(data), spec.name) == value


@pytest.mark.parametrize("value", [-(1 << 63), -1, 0, (1 << 63) - 1])
def test_int64_and_uint64_extremes(upb: Oracle, value: int) -> None:
    top = (1 << 64) - 1
    ours = messages.ProtoOASpotEvent(ctid_trader_account_id=value, symbol_id=value, bid=top, timestamp=value)
    data = ours.to_bytes()
    assert_bytes_identical(ours, upb.to_upb(ours).SerializeToString())
    back = messages.ProtoOASpotEvent.from_bytes(data)
    assert (back.ctid_trader_account_id, back.symbol_id, back.bid, back.timestamp) == (
        value,
        value,
        top,
        value,
    )


@pytest.mark.parametrize("text", NASTY_STRINGS)
def test_non_ascii_strings(upb: Oracle, text: str) -> None:
    ours = messages.ProtoOAErrorRes(error_code=text, description=text * 3)
    data = ours.to_bytes()
    theirs = upb.to_upb(ours)
    assert data == theirs.SerializeToString()
    assert text.encode("utf-8") in data
    assert messages.ProtoOAErrorRes.from_bytes(data) == ours


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308])
def test_special_doubles(upb: Oracle, value: float) -> None:
    ours = messages.ProtoOAAmendPositionSLTPReq(
        ctid_trader_account_id=1, position_id=2, stop_loss=value, take_profit=-value
    )
    data = ours.to_bytes()
    assert data == upb.to_upb(ours).SerializeToString()
    theirs = upb.new(ours)
    theirs.ParseFromString(data)
    assert_matches_upb(ours, theirs)
    assert_same_message(ours, messages.ProtoOAAmendPositionSLTPReq.from_bytes(data))


# ---------------------------------------------------------------------------------------------
# Long repeated fields (outside hypothesis)

LONG = 10_000


def test_long_repeated_messages(upb: Oracle) -> None:
    bars = [
        messages.ProtoOATrendbar(
            volume=i,
            period=messages.ProtoOATrendbarPeriod.M1,
            low=100_000 + i,
            delta_open=i % 7,
            delta_close=i % 11,
            delta_high=i % 13,
            utc_timestamp_in_minutes=27_000_000 + i,
        )
        for i in range(LONG)
    ]
    ours = messages.ProtoOAGetTrendbarsRes(
        ctid_trader_account_id=1,
        period=messages.ProtoOATrendbarPeriod.M1,
        timestamp=1_700_000_000_000,
        trendbar=bars,
        symbol_id=1,
        has_more=False,
    )
    data = ours.to_bytes()
    theirs = upb.new(ours)
    theirs.ParseFromString(data)
    assert len(theirs.trendbar) == LONG
    assert data == theirs.SerializeToString()
    assert theirs.trendbar[LONG - 1].utcTimestampInMinutes == 27_000_000 + LONG - 1
    back = messages.ProtoOAGetTrendbarsRes.from_bytes(theirs.SerializeToString())
    assert back == ours


def test_long_repeated_scalars(upb: Oracle) -> None:
    # symbolId of ProtoOASubscribeSpotsReq is not declared packed: 10,000 separate tagged varints.
    ids = [(i * 2_654_435_761) % (1 << 63) for i in range(LONG)]
    spots = messages.ProtoOASubscribeSpotsReq(ctid_trader_account_id=7, symbol_id=ids)
    data = spots.to_bytes()
    assert data == upb.to_upb(spots).SerializeToString()
    assert messages.ProtoOASubscribeSpotsReq.from_bytes(data) == spots
    # deletedQuotes of ProtoOADepthEvent is declared packed: one length-delimited run.
    quotes = [(i * 11_400_714_819_323_198_485) % (1 << 64) for i in range(LONG)]
    depth = messages.ProtoOADepthEvent(ctid_trader_account_id=7, symbol_id=1, deleted_quotes=quotes)
    data = depth.to_bytes()
    theirs = upb.to_upb(depth)
    assert data == theirs.SerializeToString()
    assert [number for number, _ in split_fields(data)] == [2, 3, 5]  # a single run for field 5
    assert messages.ProtoOADepthEvent.from_bytes(data) == depth
    parsed = upb.new(depth)
    parsed.ParseFromString(data)
    assert list(parsed.deletedQuotes) == quotes


# ---------------------------------------------------------------------------------------------
# Parser behaviour upb has and we must share


def test_repeated_occurrences_of_a_singular_scalar_last_wins(upb: Oracle) -> None:
    first = messages.ProtoOAVersionRes(version="1").to_bytes()
    second = messages.ProtoOAVersionRes(version="2").to_bytes()
    theirs = upb.new(messages.ProtoOAVersionRes)
    theirs.ParseFromString(first + second)
    ours = messages.ProtoOAVersionRes.from_bytes(first + second)
    assert ours.version == theirs.version == "2"


def test_repeated_occurrences_of_a_singular_message_are_merged(upb: Oracle) -> None:
    """The protobuf encoding spec: "for embedded message fields, the parser merges multiple instances
    of the same field, as if with MergeFrom". upb does; a decoder that keeps only the last instance
    loses the fields only the first one set."""
    order_a = messages.ProtoOAOrder(
        order_id=1,
        trade_data=messages.ProtoOATradeData(
            symbol_id=1, volume=10, trade_side=messages.ProtoOATradeSide.BUY
        ),
        order_type=messages.ProtoOAOrderType.MARKET,
        order_status=messages.ProtoOAOrderStatus.ORDER_STATUS_ACCEPTED,
        limit_price=1.5,
    )
    order_b = messages.ProtoOAOrder(
        order_id=1,
        trade_data=messages.ProtoOATradeData(
            symbol_id=1, volume=10, trade_side=messages.ProtoOATradeSide.BUY
        ),
        order_type=messages.ProtoOAOrderType.MARKET,
        order_status=messages.ProtoOAOrderStatus.ORDER_STATUS_FILLED,
        stop_price=2.5,
    )
    event_a = messages.ProtoOAExecutionEvent(
        ctid_trader_account_id=1, execution_type=messages.ProtoOAExecutionType.ORDER_ACCEPTED, order=order_a
    )
    event_b = messages.ProtoOAExecutionEvent(
        ctid_trader_account_id=1, execution_type=messages.ProtoOAExecutionType.ORDER_FILLED, order=order_b
    )
    data = event_a.to_bytes() + event_b.to_bytes()
    theirs = upb.new(messages.ProtoOAExecutionEvent)
    theirs.ParseFromString(data)
    assert theirs.order.limitPrice == 1.5 and theirs.order.stopPrice == 2.5
    ours = messages.ProtoOAExecutionEvent.from_bytes(data)
    assert_matches_upb(ours, theirs)
