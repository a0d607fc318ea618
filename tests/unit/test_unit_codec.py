"""The generated codec and its runtime (``ctrader_sdk._wire``) on inputs built by hand.

Varints of every length, unknown fields of every wire type, packed and unpacked repeated fields,
required fields, out-of-range and wrongly typed values, proto2 presence of zero values, broken UTF-8
and lengths, and the text of the errors (which must name the message and the field).
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from conformance.strategies import (
    ALL_MESSAGES,
    INT_RANGES,
    edge_instance,
    messages_with,
    required_only,
    split_fields,
    tag,
    varint,
)

from ctrader_sdk import DecodeError, EncodeError
from ctrader_sdk import messages as m
from ctrader_sdk._wire import FieldSpec, Message

MASK64 = (1 << 64) - 1
SPOT_HEAD = m.ProtoOASpotEvent(ctid_trader_account_id=1, symbol_id=2).to_bytes()  # fields 2 and 3


def decode_error(cls: type[Message], data: bytes) -> str:
    with pytest.raises(DecodeError) as info:
        cls.from_bytes(data)
    return str(info.value)


def encode_error(message: Message) -> str:
    with pytest.raises(EncodeError) as info:
        message.to_bytes()
    return str(info.value)


def pairs_id(pairs: list[tuple[type[Message], FieldSpec]]) -> list[str]:
    return [f"{cls.__name__}.{spec.name}" for cls, spec in pairs]


# ---------------------------------------------------------------------------------------------
# Varints

VARINT_CASES = [(0, 1), (1, 1), (127, 1), (128, 2)]
VARINT_CASES += [(1 << 7 * k, k + 1) for k in range(2, 10)]  # the smallest value of each length
VARINT_CASES += [((1 << 7 * k) - 1, k) for k in range(2, 10)]  # the largest value of each length
VARINT_CASES += [(MASK64, 10)]


@pytest.mark.parametrize(("value", "length"), VARINT_CASES)
def test_varint_lengths_uint64(value: int, length: int) -> None:
    data = m.ProtoOASpotEvent(ctid_trader_account_id=1, symbol_id=2, bid=value).to_bytes()
    assert data == SPOT_HEAD + tag(4, 0) + varint(value)
    assert len(varint(value)) == length
    assert m.ProtoOASpotEvent.from_bytes(data).bid == value
    # out of field order: read by the general loop instead of the in-order fast path
    assert m.ProtoOASpotEvent.from_bytes(tag(4, 0) + varint(value) + SPOT_HEAD).bid == value


@pytest.mark.parametrize("value", [-1, -2, -(1 << 31), -(1 << 63), (1 << 63) - 1, 1 << 35])
def test_varint_int64_negative_is_ten_bytes(value: int) -> None:
    data = m.ProtoOASpotEvent(ctid_trader_account_id=value, symbol_id=0).to_bytes()
    assert data == tag(2, 0) + varint(value) + tag(3, 0) + b"\x00"
    if value < 0:
        assert len(varint(value)) == 10
    assert m.ProtoOASpotEvent.from_bytes(data).ctid_trader_account_id == value
    assert m.ProtoOASpotEvent.from_bytes(data[-2:] + data[:-2]).ctid_trader_account_id == value


INT32_FIELD = messages_with("int32", "required")[0]
UINT32_FIELD = messages_with("uint32", "required")[0]
BOOL_FIELD = messages_with("bool", "required")[0]
ENUM_FIELD = messages_with("enum", "required")[0]


def _with_raw(cls: type[Message], spec: FieldSpec, raw_value: bytes) -> bytes:
    """``cls``'s required-only encoding with ``spec``'s value replaced by ``raw_value``."""
    fields = split_fields(required_only(cls).to_bytes())
    return b"".join(tag(spec.number, 0) + raw_value if n == spec.number else raw for n, raw in fields)


@pytest.mark.parametrize(
    ("pair", "raw", "expected"),
    [
        (INT32_FIELD, varint(-1), -1),  # ten bytes
        (INT32_FIELD, varint((1 << 32) - 1), -1),  # five bytes: truncated to 32 bits, then signed
        (INT32_FIELD, varint((1 << 40) + 5), 5),
        (INT32_FIELD, varint(-(1 << 31)), -(1 << 31)),
        (UINT32_FIELD, varint(MASK64), (1 << 32) - 1),  # truncated to 32 bits, as upb does
        (UINT32_FIELD, varint((1 << 32) + 7), 7),
        (BOOL_FIELD, varint(2), True),
        (BOOL_FIELD, varint(1 << 63), True),
        (BOOL_FIELD, b"\x80\x80\x00", False),  # a non-minimal zero
        (ENUM_FIELD, varint(1 << 32 | 1), 1),
        (INT32_FIELD, b"\x85\x80\x80\x80\x80\x80\x80\x80\x80\x00", 5),  # non-minimal, ten bytes
        (INT32_FIELD, b"\x85\x80\x80\x80\x80\x80\x80\x80\x80\x7f", 5),  # tenth byte's high bits dropped
    ],
    ids=lambda v: v[0].__name__ + "." + v[1].name if isinstance(v, tuple) else None,
)
def test_varint_conversions(pair: tuple[type[Message], FieldSpec], raw: bytes, expected: Any) -> None:
    cls, spec = pair
    value = getattr(cls.from_bytes(_with_raw(cls, spec, raw)), spec.name)
    assert value == expected
    assert type(value) is (bool if spec.kind == "bool" else spec.type if spec.kind == "enum" else int)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (tag(2, 0) + b"\xff" * 10 + b"\x01", "ctidTraderAccountId"),  # fast path
        (SPOT_HEAD + tag(4, 0) + b"\xff" * 10 + b"\x01", "bid"),  # fast path, later field
        (tag(4, 0) + b"\x80" * 11 + b"\x00" + SPOT_HEAD, "bid"),  # general loop
        (SPOT_HEAD + tag(8, 0) + b"\x80" * 10 + b"\x01", "timestamp"),
    ],
)
def test_eleven_byte_varint_is_an_error_naming_the_field(data: bytes, field: str) -> None:
    text = decode_error(m.ProtoOASpotEvent, data)
    assert f"ProtoOASpotEvent.{field}" in text and "10 bytes" in text


@pytest.mark.parametrize("length", [11, 12, 40])
def test_over_long_payload_type_varint(length: int) -> None:
    """Field 1 (payloadType) is skipped, but an over-long varint there is as malformed as anywhere."""
    over_long = tag(1, 0) + b"\x80" * (length - 1) + b"\x01"
    version = tag(2, 2) + b"\x01v"
    for data in (over_long + version, version + over_long):  # in-order fast path, general loop
        assert "ProtoOAVersionRes" in decode_error(m.ProtoOAVersionRes, data)
    ten_bytes = tag(1, 0) + b"\x80" * 9 + b"\x01"
    assert m.ProtoOAVersionRes.from_bytes(ten_bytes + version).version == "v"


def test_eleven_byte_varint_in_a_nested_message() -> None:
    bar = tag(3, 0) + b"\xff" * 10 + b"\x01"
    text = decode_error(m.ProtoOASpotEvent, SPOT_HEAD + tag(6, 2) + varint(len(bar)) + bar)
    assert "ProtoOATrendbar.volume" in text


def test_over_long_tag_and_length() -> None:
    assert "ProtoOASpotEvent" in decode_error(m.ProtoOASpotEvent, SPOT_HEAD + b"\x80" * 11 + b"\x01")
    text = decode_error(m.ProtoOAVersionRes, tag(2, 2) + b"\x80" * 10 + b"\x01")
    assert "ProtoOAVersionRes.version" in text


# ---------------------------------------------------------------------------------------------
# Unknown fields

UNKNOWN_FIELDS = {
    "varint": tag(99, 0) + varint(1 << 63),
    "varint-1": tag(99, 0) + varint(-1),
    "fixed64": tag(99, 1) + b"\x01" * 8,
    "length-delimited": tag(99, 2) + varint(3) + b"abc",
    "length-delimited-empty": tag(99, 2) + b"\x00",
    "fixed32": tag(99, 5) + b"\xff" * 4,
    "group": tag(99, 3) + tag(1, 0) + b"\x05" + tag(2, 2) + b"\x01x" + tag(99, 4),
    "empty-group": tag(99, 3) + tag(99, 4),
    "nested-groups": (
        tag(99, 3)
        + tag(100, 3)
        + tag(3, 1)
        + b"\x00" * 8
        + tag(101, 3)
        + tag(4, 5)
        + b"\x00" * 4
        + tag(101, 4)
        + tag(100, 4)
        + tag(7, 0)
        + b"\x01"
        + tag(99, 4)
    ),
    "groups-99-deep": tag(99, 3) * 99 + tag(99, 4) * 99,
    "payloadType": tag(1, 0) + varint(2131),  # field 1 of every payload message: skipped
    "known-number-wrong-wire-type": tag(3, 2) + b"\x02ab",  # symbolId as a length-delimited value
    "largest-field-number": tag((1 << 29) - 1, 0) + b"\x01",
    "two-byte-tag": tag(16, 0) + b"\x01",
}


@pytest.mark.parametrize("unknown", UNKNOWN_FIELDS.values(), ids=UNKNOWN_FIELDS.keys())
def test_unknown_fields_are_skipped(unknown: bytes) -> None:
    bar = m.ProtoOATrendbar(volume=5, low=-3)
    spot = m.ProtoOASpotEvent(ctid_trader_account_id=1, symbol_id=2, bid=3, trendbar=[bar], timestamp=9)
    fields = split_fields(spot.to_bytes())
    for i in range(len(fields) + 1):  # before, between and after the known fields
        raw = [f for _, f in fields]
        raw.insert(i, unknown)
        assert m.ProtoOASpotEvent.from_bytes(b"".join(raw)) == spot
    bar_data = bar.to_bytes() + unknown
    nested = SPOT_HEAD + tag(6, 2) + varint(len(bar_data)) + bar_data
    assert m.ProtoOASpotEvent.from_bytes(nested).trendbar == [bar]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (tag(99, 1) + b"\x00" * 7, "truncated"),
        (tag(99, 5) + b"\x00" * 3, "truncated"),
        (tag(99, 2) + b"\x05abc", "truncated"),
        (tag(99, 2) + b"\x80", ""),
        (tag(99, 0) + b"\x80\x80", ""),
        (tag(99, 3), "group not closed"),
    ],
)
def test_truncated_unknown_fields(bad: bytes, reason: str) -> None:
    text = decode_error(m.ProtoOASpotEvent, SPOT_HEAD + bad)
    assert text.startswith("cannot decode ProtoOASpotEvent") and reason in text, text


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (tag(99, 6), "wire type 6"),
        (tag(99, 7) + b"\x00", "wire type 7"),
        (tag(99, 4), "wire type 4"),  # an end-group with no start
        (tag(99, 3) + tag(98, 4), "mismatched end of group"),
        (tag(99, 3) + tag(1, 0) + b"\x01", "group not closed"),
        (tag(99, 3) + tag(100, 3) + tag(99, 4), "mismatched end of group"),
        (tag(99, 3) + tag(99, 6) + tag(99, 4), "wire type 6"),
        (tag(99, 3) * 101 + tag(99, 4) * 101, "nested deeper"),
        (tag(99, 3) * 50_000, ""),  # neither recursion nor a hang
        (b"\x00", "field number 0"),
        (tag(0, 2) + b"\x00", "field number 0"),
        (varint(1 << 32), "field number out of range"),  # a tag wider than 32 bits
    ],
)
def test_malformed_unknown_fields(bad: bytes, reason: str) -> None:
    for data in (SPOT_HEAD + bad, bad + SPOT_HEAD):
        text = decode_error(m.ProtoOASpotEvent, data)
        assert text.startswith("cannot decode ProtoOASpotEvent") and reason in text, text


def test_an_empty_message_skips_everything() -> None:
    data = b"".join(UNKNOWN_FIELDS.values())
    assert m.ProtoOAVersionReq.from_bytes(data) == m.ProtoOAVersionReq()
    assert m.ProtoHeartbeatEvent.from_bytes(b"") == m.ProtoHeartbeatEvent()
    assert "ProtoOAVersionReq" in decode_error(m.ProtoOAVersionReq, data + tag(5, 7))


# ---------------------------------------------------------------------------------------------
# Packed and unpacked repeated fields


def test_unpacked_field_sent_packed() -> None:
    """``ProtoOASubscribeSpotsReq.symbolId`` is not declared packed, but a packed run is accepted."""
    values = [1, 300, -1, (1 << 63) - 1, 0]
    run = b"".join(varint(v) for v in values)
    head = tag(2, 0) + b"\x07"
    packed = head + tag(3, 2) + varint(len(run)) + run
    assert m.ProtoOASubscribeSpotsReq.from_bytes(packed).symbol_id == values
    ours = m.ProtoOASubscribeSpotsReq(ctid_trader_account_id=7, symbol_id=values).to_bytes()
    assert ours == head + b"".join(tag(3, 0) + varint(v) for v in values)  # we write it unpacked
    mixed = (
        head
        + tag(3, 0)
        + b"\x09"
        + tag(3, 2)
        + varint(len(run))
        + run
        + tag(3, 2)
        + b"\x00"
        + tag(3, 0)
        + b"\x08"
    )
    assert m.ProtoOASubscribeSpotsReq.from_bytes(mixed).symbol_id == [9, *values, 8]


def test_packed_field_sent_unpacked() -> None:
    """``ProtoOADepthEvent.deletedQuotes`` is declared packed, but separate values are accepted."""
    values = [5, 0, MASK64, 1 << 40]
    head = tag(2, 0) + b"\x01" + tag(3, 0) + b"\x02"
    unpacked = head + b"".join(tag(5, 0) + varint(v) for v in values)
    event = m.ProtoOADepthEvent.from_bytes(unpacked)
    assert event.deleted_quotes == values
    run = b"".join(varint(v) for v in values)
    assert event.to_bytes() == head + tag(5, 2) + varint(len(run)) + run  # we write it packed
    mixed = head + tag(5, 2) + varint(len(run)) + run + tag(5, 0) + b"\x03"
    assert m.ProtoOADepthEvent.from_bytes(mixed).deleted_quotes == [*values, 3]
    assert m.ProtoOADepthEvent.from_bytes(head + tag(5, 2) + b"\x00").deleted_quotes == []
    assert m.ProtoOADepthEvent(ctid_trader_account_id=1, symbol_id=2).to_bytes() == head  # no empty run


@pytest.mark.parametrize(
    "run",
    [
        b"\x02\x01\x80",  # the last value runs past the end of the input
        b"\x01\x80\x01",  # ... past the run's length, into the next bytes
        b"\x05\x01\x02",  # a length past the end of the input
    ],
)
def test_broken_packed_runs(run: bytes) -> None:
    head = tag(2, 0) + b"\x01" + tag(3, 0) + b"\x02"
    assert "ProtoOADepthEvent.deletedQuotes" in decode_error(m.ProtoOADepthEvent, head + tag(5, 2) + run)
    spots_head = tag(2, 0) + b"\x07"
    text = decode_error(m.ProtoOASubscribeSpotsReq, spots_head + tag(3, 2) + run)
    assert "ProtoOASubscribeSpotsReq.symbolId" in text


# ---------------------------------------------------------------------------------------------
# Required fields and proto2 presence

#: The repeated fields release 91 declares ``[packed = true]`` (checked against upb by the conformance suite).
PACKED = {(m.ProtoOADepthEvent, "deleted_quotes")}
REQUIRED = [(cls, spec) for cls in ALL_MESSAGES for spec in cls._FIELDS if spec.label == "required"]


@pytest.mark.parametrize(("cls", "spec"), REQUIRED, ids=pairs_id(REQUIRED))
def test_missing_required_field_on_decode(cls: type[Message], spec: FieldSpec) -> None:
    fields = split_fields(edge_instance(cls, "special").to_bytes())
    data = b"".join(raw for number, raw in fields if number != spec.number)
    text = decode_error(cls, data)
    assert cls.__name__ in text and spec.proto_name in text and "missing" in text, text


@pytest.mark.parametrize(("cls", "spec"), REQUIRED, ids=pairs_id(REQUIRED))
def test_unset_required_field_on_encode(cls: type[Message], spec: FieldSpec) -> None:
    message = edge_instance(cls, "zero")
    setattr(message, spec.name, None)
    assert f"{cls.__name__}.{spec.name}" in encode_error(message)


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=[c.__name__ for c in ALL_MESSAGES])
def test_zero_values_are_encoded(cls: type[Message]) -> None:
    """0, "", b"", False and 0.0 in required and set optional fields are sent (proto2 presence);
    repeated fields with two zero items give two values (packed: one run)."""
    message = edge_instance(cls, "zero")
    numbers = [n for n, _ in split_fields(message.to_bytes())]
    expected = []
    for spec in cls._FIELDS:
        packed = (cls, spec.name) in PACKED
        expected += [spec.number] * (2 if spec.label == "repeated" and not packed else 1)
    assert sorted(numbers) == sorted(expected)
    assert cls.from_bytes(message.to_bytes()) == message
    required = sorted(s.number for s in cls._FIELDS if s.label == "required")
    assert sorted(n for n, _ in split_fields(required_only(cls).to_bytes())) == required


def test_unset_optional_fields_are_not_encoded() -> None:
    assert m.ProtoOASpotEvent(ctid_trader_account_id=0, symbol_id=0).to_bytes() == b"\x10\x00\x18\x00"
    assert m.ProtoOAVersionReq().to_bytes() == b""
    empty = m.ProtoOAErrorRes(error_code="", description="", retry_after=0)
    assert empty.to_bytes() == b"\x1a\x00\x22\x00\x30\x00"
    decoded = m.ProtoOAErrorRes.from_bytes(empty.to_bytes())
    assert decoded.description == "" and decoded.retry_after == 0 and decoded.ctid_trader_account_id is None


# ---------------------------------------------------------------------------------------------
# Values that cannot be encoded

OUT_OF_RANGE = {
    "int32": [1 << 31, -(1 << 31) - 1],
    "uint32": [-1, 1 << 32],
    "int64": [1 << 63, -(1 << 63) - 1],
    "uint64": [-1, 1 << 64],
    "enum": [1 << 31, -(1 << 31) - 1],
}


@pytest.mark.parametrize("kind", OUT_OF_RANGE)
def test_out_of_range_values(kind: str) -> None:
    pairs = messages_with(kind)
    assert pairs
    for cls, spec in pairs:
        for value in OUT_OF_RANGE[kind]:
            message = edge_instance(cls, "zero")
            setattr(message, spec.name, [0, value] if spec.label == "repeated" else value)
            text = encode_error(message)
            assert f"{cls.__name__}.{spec.name}" in text and "out of range" in text, text
        if kind in INT_RANGES:  # the limits themselves are fine
            lo, hi = INT_RANGES[kind]
            message = edge_instance(cls, "zero")
            setattr(message, spec.name, [lo, hi] if spec.label == "repeated" else hi)
            assert cls.from_bytes(message.to_bytes()) == message


def test_out_of_range_in_a_nested_message() -> None:
    bar = m.ProtoOATrendbar(volume=1, utc_timestamp_in_minutes=1 << 32)
    spot = m.ProtoOASpotEvent(ctid_trader_account_id=1, symbol_id=2, trendbar=[bar])
    assert "ProtoOATrendbar.utc_timestamp_in_minutes" in encode_error(spot)


def test_unencodable_double() -> None:
    req = m.ProtoOAAmendPositionSLTPReq(ctid_trader_account_id=1, position_id=2, stop_loss=10**400)
    assert "ProtoOAAmendPositionSLTPReq.stop_loss" in encode_error(req)


WRONG_TYPES: dict[str, list[Any]] = {
    "int64": ["1", 1.0, 1.5, b"1", None, [1]],
    "uint64": ["1", 2.0, b"\x01"],
    "int32": ["1", 3.0],
    "uint32": ["1", 1.0],
    "enum": ["MARKET", 1.0],
    "string": [1, b"text", 1.5, ["a"]],
    "bytes": ["text", 1, [1]],
    "double": ["1.5", b"1", [1.5]],
    "bool": ["true", 1.0, None],
    "message": [m.ProtoOAVersionReq(), {"volume": 1}, 1],
}


@pytest.mark.parametrize("kind", WRONG_TYPES)
def test_wrong_types(kind: str) -> None:
    pairs = messages_with(kind)
    assert pairs
    for cls, spec in pairs:
        for value in WRONG_TYPES[kind]:
            if value is None and spec.label != "required":
                continue  # None is "not set" for an optional field
            message = edge_instance(cls, "zero")
            setattr(message, spec.name, [value] if spec.label == "repeated" else value)
            text = encode_error(message)
            assert f"{cls.__name__}.{spec.name}" in text, text


def test_repeated_field_must_be_a_list() -> None:
    for value in ({1, 2}, 5, "12", (i for i in range(2)), None):
        message = m.ProtoOASubscribeSpotsReq(ctid_trader_account_id=1)
        message.symbol_id = value  # type: ignore[assignment]
        assert "ProtoOASubscribeSpotsReq.symbol_id" in encode_error(message)
    as_tuple = m.ProtoOASubscribeSpotsReq(ctid_trader_account_id=1, symbol_id=(1, 2))  # type: ignore[arg-type]
    assert m.ProtoOASubscribeSpotsReq.from_bytes(as_tuple.to_bytes()).symbol_id == [1, 2]


def test_message_of_the_wrong_class() -> None:
    bar = m.ProtoOATrendbar(volume=1)
    event = m.ProtoOAExecutionEvent(
        ctid_trader_account_id=1,
        execution_type=m.ProtoOAExecutionType.ORDER_ACCEPTED,
        order=bar,  # type: ignore[arg-type]
    )
    text = encode_error(event)
    assert "ProtoOAExecutionEvent.order" in text and "ProtoOAOrder" in text


def test_lone_surrogate_cannot_be_encoded() -> None:
    assert "ProtoOAVersionRes.version" in encode_error(m.ProtoOAVersionRes(version="a\ud800b"))


# ---------------------------------------------------------------------------------------------
# Strings, lengths and error texts


@pytest.mark.parametrize(
    "raw",
    [b"\xff", b"\xc3\x28", b"\xc0\x80", b"\xed\xa0\x80", b"abc\xf0\x9f\x99", b"\xf4\x90\x80\x80"],
    ids=["ff", "bad-continuation", "over-long-nul", "surrogate", "cut-emoji", "above-max"],
)
def test_invalid_utf8_is_a_decode_error(raw: bytes) -> None:
    value = tag(2, 2) + varint(len(raw)) + raw
    text = decode_error(m.ProtoOAVersionRes, value)
    assert "ProtoOAVersionRes.version" in text and "UTF-8" in text
    head = tag(3, 2) + b"\x01E"  # errorCode, then description out of order and broken
    text = decode_error(m.ProtoOAErrorRes, head + tag(4, 2) + varint(len(raw)) + raw + tag(2, 0) + b"\x01")
    assert "ProtoOAErrorRes.description" in text and "UTF-8" in text
    inner = m.ProtoOATradeData(symbol_id=1, volume=1, trade_side=m.ProtoOATradeSide.BUY).to_bytes()
    inner += tag(5, 2) + varint(len(raw)) + raw
    assert "ProtoOATradeData.label" in decode_error(m.ProtoOATradeData, inner)


def test_valid_utf8_edge_cases() -> None:
    for text in ("", "\x00", "\U0010ffff", "\ufeffBOM", "é" * 1000):
        assert m.ProtoOAVersionRes.from_bytes(m.ProtoOAVersionRes(version=text).to_bytes()).version == text


@pytest.mark.parametrize(
    ("cls", "data", "field"),
    [
        (m.ProtoOAVersionRes, tag(2, 2) + b"\x05ab", "version"),
        (m.ProtoOAVersionRes, tag(2, 2) + varint(1 << 62) + b"ab", "version"),
        (m.ProtoMessage, tag(1, 0) + b"\x01" + tag(2, 2) + b"\x09abc", "payload"),
        (m.ProtoOASpotEvent, SPOT_HEAD + tag(6, 2) + b"\x10" + tag(3, 0) + b"\x01", "trendbar"),
        (m.ProtoOASpotEvent, SPOT_HEAD + tag(6, 2), "trendbar"),
    ],
)
def test_length_past_the_end(cls: type[Message], data: bytes, field: str) -> None:
    text = decode_error(cls, data)
    assert f"{cls.__name__}.{field}" in text, text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (tag(2, 0) + b"\x01" + tag(3, 0), "ProtoOASpotEvent.symbolId"),  # a value missing at the end
        (SPOT_HEAD + tag(4, 0) + b"\x80", "ProtoOASpotEvent.bid"),  # a varint cut short
        (SPOT_HEAD + tag(6, 2) + b"\x02" + tag(3, 0) + b"\x80", "ProtoOATrendbar"),  # cut inside a nested one
    ],
)
def test_truncated_input_names_message_and_field(data: bytes, message: str) -> None:
    assert message in decode_error(m.ProtoOASpotEvent, data)


def test_from_bytes_accepts_bytes_like_only() -> None:
    data = m.ProtoOAVersionRes(version="v").to_bytes()
    assert m.ProtoOAVersionRes.from_bytes(bytearray(data)).version == "v"
    assert m.ProtoOAVersionRes.from_bytes(memoryview(data)).version == "v"
    with pytest.raises(TypeError):
        m.ProtoOAVersionRes.from_bytes("text")  # type: ignore[arg-type]


def test_doubles_are_little_endian_ieee754() -> None:
    req = m.ProtoOAAmendPositionSLTPReq(
        ctid_trader_account_id=1, position_id=2, stop_loss=1.5, take_profit=-0.0
    )
    data = req.to_bytes()
    numbers = {spec.name: spec.number for spec in m.ProtoOAAmendPositionSLTPReq._FIELDS}
    sl, tp = numbers["stop_loss"], numbers["take_profit"]
    assert data.endswith(tag(sl, 1) + struct.pack("<d", 1.5) + tag(tp, 1) + struct.pack("<d", -0.0))
    back = m.ProtoOAAmendPositionSLTPReq.from_bytes(data)
    assert back.stop_loss == 1.5 and struct.pack("<d", back.take_profit) == struct.pack("<d", -0.0)
    as_int = m.ProtoOAAmendPositionSLTPReq(ctid_trader_account_id=1, position_id=2, stop_loss=3)
    assert m.ProtoOAAmendPositionSLTPReq.from_bytes(as_int.to_bytes()).stop_loss == 3.0


def test_bool_is_not_an_int_and_enums_are_not_interchangeable() -> None:
    from ctrader_sdk.messages import ProtoOANewOrderReq, ProtoOAOrderType, ProtoOATradeSide, ProtoOAVersionRes

    with pytest.raises(
        EncodeError, match=r"ProtoOAAccountAuthRes\.ctid_trader_account_id must be an int, got bool"
    ):
        m.ProtoOAAccountAuthRes(ctid_trader_account_id=True).to_bytes()
    order = ProtoOANewOrderReq(
        ctid_trader_account_id=1,
        symbol_id=1,
        order_type=ProtoOATradeSide.BUY,  # type: ignore[arg-type]
        trade_side=ProtoOATradeSide.BUY,
        volume=1,
    )
    with pytest.raises(EncodeError, match=r"ProtoOANewOrderReq\.order_type must be a ProtoOAOrderType"):
        order.to_bytes()
    order.order_type = 1  # type: ignore[assignment]  # a raw int is accepted: servers may know values we do not
    assert ProtoOANewOrderReq.from_bytes(order.to_bytes()).order_type is ProtoOAOrderType.MARKET
    assert ProtoOAVersionRes(version="1").to_bytes() == b"\x12\x011"
