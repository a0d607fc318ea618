"""Generated enums: IntEnum members with the proto value names, and ``UNKNOWN_<n>`` pseudo-members for
values the release does not know (decoded, kept, and re-encoded to the same bytes)."""

from __future__ import annotations

import enum
import json

import pytest
from conformance.strategies import ALL_ENUMS, messages_with, required_only, split_fields, tag, varint

from ctrader_sdk import ProtoEnum
from ctrader_sdk import messages as m
from ctrader_sdk._wire import FieldSpec, Message


@pytest.mark.parametrize("cls", ALL_ENUMS, ids=[e.__name__ for e in ALL_ENUMS])
def test_enum_members(cls: type[ProtoEnum]) -> None:
    assert issubclass(cls, ProtoEnum) and issubclass(cls, enum.IntEnum)
    members = list(cls)
    assert members, cls
    for member in members:
        assert member.is_known
        assert cls(int(member)) is member
        assert cls[member.name] is member
        assert isinstance(member, int)
    assert len(ALL_ENUMS) == 29


def test_unknown_value_is_a_cached_pseudo_member() -> None:
    unknown = m.ProtoOAOrderType(9999)
    assert unknown.name == "UNKNOWN_9999" and unknown.value == 9999 and unknown == 9999
    assert not unknown.is_known
    assert isinstance(unknown, m.ProtoOAOrderType) and type(unknown) is m.ProtoOAOrderType
    assert m.ProtoOAOrderType(9999) is unknown
    assert "UNKNOWN_9999" in repr(unknown)
    assert unknown not in list(m.ProtoOAOrderType)  # the members are not polluted
    assert "UNKNOWN_9999" not in m.ProtoOAOrderType.__members__
    negative = m.ProtoOAOrderType(-5)
    assert negative.name == "UNKNOWN_-5" and not negative.is_known
    assert m.ProtoOATradeSide(9999) is not unknown  # one pseudo-member per enum
    with pytest.raises(KeyError):
        m.ProtoOAOrderType["UNKNOWN_9999"]
    with pytest.raises(ValueError):
        m.ProtoOAOrderType("MARKET")  # type: ignore[arg-type]


#: Every enum field of the release, with values its enum does not define (0 only where it is unknown).
UNKNOWN_CASES = [
    (cls, spec, value)
    for cls, spec in messages_with("enum")
    for value in (9999, -1, 0, (1 << 31) - 1)
    if value not in {int(member) for member in spec.type}
]


@pytest.mark.parametrize(
    ("cls", "spec", "value"),
    UNKNOWN_CASES,
    ids=[f"{c.__name__}.{s.name}={v}" for c, s, v in UNKNOWN_CASES],
)
def test_unknown_value_decodes_and_reencodes(cls: type[Message], spec: FieldSpec, value: int) -> None:
    enum_cls = spec.type
    fields = split_fields(required_only(cls).to_bytes())
    raw = tag(spec.number, 0) + varint(value)
    data = b"".join(f for n, f in fields if n != spec.number) + raw
    decoded = cls.from_bytes(data)
    member = getattr(decoded, spec.name)
    if spec.label == "repeated":
        (member,) = member
    assert type(member) is enum_cls
    assert member.name == f"UNKNOWN_{value}" and not member.is_known and member == value
    again = decoded.to_bytes()
    assert raw in again and cls.from_bytes(again) == decoded
    as_json = json.loads(json.dumps(decoded.to_dict()))
    assert as_json[spec.proto_name] in (value, [value])  # an unknown value stays an int in dicts
    assert cls.from_dict(as_json) == decoded


def test_unknown_value_in_a_nested_message() -> None:
    bar = tag(3, 0) + b"\x01" + tag(4, 0) + varint(77)
    spot = tag(2, 0) + b"\x01" + tag(3, 0) + b"\x02" + tag(6, 2) + varint(len(bar)) + bar
    event = m.ProtoOASpotEvent.from_bytes(spot)
    assert event.trendbar[0].period is m.ProtoOATrendbarPeriod(77)
    assert event.to_bytes() == spot


def test_known_values_decode_to_the_members() -> None:
    req = m.ProtoOANewOrderReq(
        ctid_trader_account_id=1,
        symbol_id=1,
        order_type=m.ProtoOAOrderType.STOP_LIMIT,
        trade_side=m.ProtoOATradeSide.SELL,
        volume=100,
    )
    back = m.ProtoOANewOrderReq.from_bytes(req.to_bytes())
    assert back.order_type is m.ProtoOAOrderType.STOP_LIMIT and back.trade_side is m.ProtoOATradeSide.SELL
    plain_int = m.ProtoOANewOrderReq(
        ctid_trader_account_id=1, symbol_id=1, order_type=2, trade_side=1, volume=100
    )
    assert m.ProtoOANewOrderReq.from_bytes(plain_int.to_bytes()).order_type is m.ProtoOAOrderType(2)
