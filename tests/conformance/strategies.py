"""Generic hypothesis strategies, edge-value instances and comparison helpers for the generated messages.

Everything here is built from each message's ``_FIELDS`` specs, so it covers every message of the
release without naming any of them. The upb side (descriptor-driven strategies and comparison with
upb messages) lives in :mod:`conformance.oracle`.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from hypothesis import strategies as st

from ctrader_sdk import Envelope, UnknownMessage, messages
from ctrader_sdk._generated.registry import MESSAGE_COUNT, PAYLOAD_TYPES
from ctrader_sdk._wire import FieldSpec, Message, ProtoEnum

# ---------------------------------------------------------------------------------------------
# The schema as the generated code exposes it


def _exported(base: type) -> tuple[Any, ...]:
    found = [getattr(messages, name) for name in messages.__all__]
    return tuple(
        sorted(
            (obj for obj in found if isinstance(obj, type) and issubclass(obj, base)),
            key=lambda c: c.__name__,
        )
    )


ALL_MESSAGES: tuple[type[Message], ...] = _exported(Message)
ALL_ENUMS: tuple[type[ProtoEnum], ...] = _exported(ProtoEnum)
assert len(ALL_MESSAGES) == MESSAGE_COUNT, (len(ALL_MESSAGES), MESSAGE_COUNT)

#: A few messages with many fields of every kind, or big repeated fields, for the slower tests.
RICH_MESSAGES: tuple[type[Message], ...] = tuple(
    getattr(messages, name)
    for name in (
        "ProtoMessage",
        "ProtoOAApplicationAuthReq",
        "ProtoOADepthEvent",
        "ProtoOAExecutionEvent",
        "ProtoOAGetTrendbarsRes",
        "ProtoOANewOrderReq",
        "ProtoOAOrderErrorEvent",
        "ProtoOASpotEvent",
        "ProtoOASymbolByIdRes",
        "ProtoOATraderRes",
    )
)

INT_RANGES: dict[str, tuple[int, int]] = {
    "int32": (-(1 << 31), (1 << 31) - 1),
    "sint32": (-(1 << 31), (1 << 31) - 1),
    "sfixed32": (-(1 << 31), (1 << 31) - 1),
    "int64": (-(1 << 63), (1 << 63) - 1),
    "sint64": (-(1 << 63), (1 << 63) - 1),
    "sfixed64": (-(1 << 63), (1 << 63) - 1),
    "uint32": (0, (1 << 32) - 1),
    "fixed32": (0, (1 << 32) - 1),
    "uint64": (0, (1 << 64) - 1),
    "fixed64": (0, (1 << 64) - 1),
}
FLOAT_KINDS = frozenset({"double", "float"})
DOUBLE_MAX = 1.7976931348623157e308
FLOAT32_MAX = 3.4028234663852886e38

#: Strings that exercise UTF-8: empty, Latin-1, CJK, astral-plane emoji, a NUL, combining marks.
NASTY_STRINGS = ("", "é", "日本語の文字列", "🙂🚀👍🏽", "a\x00b", "e\u0301\u200d", "𝄞" * 40)


def messages_with(kind: str, label: str | None = None) -> list[tuple[type[Message], FieldSpec]]:
    """Every (message, field) pair of the release with the given kind (and label)."""
    return [
        (cls, spec)
        for cls in ALL_MESSAGES
        for spec in cls._FIELDS
        if spec.kind == kind and (label is None or spec.label == label)
    ]


# ---------------------------------------------------------------------------------------------
# Strategies


def int_strategy(kind: str) -> st.SearchStrategy[int]:
    lo, hi = INT_RANGES[kind]
    edges = sorted({lo, hi, 0, 1, max(lo, -1), hi - 1, min(hi, 127), min(hi, 128), min(hi, 1 << 28)})
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def double_strategy(width: int = 64) -> st.SearchStrategy[float]:
    biggest = DOUBLE_MAX if width == 64 else FLOAT32_MAX
    specials = [0.0, -0.0, math.nan, math.inf, -math.inf, biggest, -biggest, 1.5, -2.25]
    if width == 64:
        specials.append(5e-324)
    return st.one_of(st.sampled_from(specials), st.floats(width=width))


def string_strategy() -> st.SearchStrategy[str]:
    # st.text() never draws lone surrogates (category Cs), which UTF-8 cannot encode.
    return st.one_of(st.sampled_from(NASTY_STRINGS), st.text(max_size=24))


def scalar_strategy(kind: str, enum_values: list[Any] | None = None) -> st.SearchStrategy[Any]:
    """Values of one scalar kind; ``enum_values`` (known members only) for an enum."""
    if kind in INT_RANGES:
        return int_strategy(kind)
    if kind == "bool":
        return st.booleans()
    if kind == "double":
        return double_strategy(64)
    if kind == "float":
        return double_strategy(32)
    if kind == "string":
        return string_strategy()
    if kind == "bytes":
        return st.one_of(st.sampled_from([b"", b"\x00", bytes(range(256))]), st.binary(max_size=24))
    if kind == "enum":
        assert enum_values
        return st.sampled_from(enum_values)
    raise AssertionError(f"unknown kind {kind}")


MAX_DEPTH = 4
_STRATEGIES: dict[tuple[type[Message], int, int], st.SearchStrategy[Any]] = {}


def value_strategy(spec: FieldSpec, depth: int = 0, max_list: int = 3) -> st.SearchStrategy[Any]:
    if spec.kind == "message":
        return message_strategy(spec.type, depth + 1, max_list)
    return scalar_strategy(spec.kind, list(spec.type) if spec.kind == "enum" else None)


def message_strategy(cls: type[Message], depth: int = 0, max_list: int = 3) -> st.SearchStrategy[Any]:
    """Instances of ``cls``: required fields always set, optional ones set or None, lists of up to
    ``max_list`` items (fewer deeper down; none past :data:`MAX_DEPTH`, where only required fields of
    nested messages are still drawn)."""
    key = (cls, depth, max_list)
    cached = _STRATEGIES.get(key)
    if cached is not None:
        return cached
    deep = depth >= MAX_DEPTH
    size = max(0, max_list - depth)
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for spec in cls._FIELDS:
        if spec.label == "required":
            kwargs[spec.name] = value_strategy(spec, depth, max_list)
        elif spec.label == "optional":
            kwargs[spec.name] = (
                st.none() if deep else st.one_of(st.none(), value_strategy(spec, depth, max_list))
            )
        else:
            kwargs[spec.name] = (
                st.just([]) if deep else st.lists(value_strategy(spec, depth, max_list), max_size=size)
            )
    strategy = st.builds(cls, **kwargs)
    _STRATEGIES[key] = strategy
    return strategy


# ---------------------------------------------------------------------------------------------
# Deterministic edge-value instances

#: The edge profiles: every field of a message is set (optional ones too, lists get two items).
EDGE_PROFILES = ("zero", "min", "max", "special")


def edge_scalar(kind: str, profile: str, enum: type[ProtoEnum] | None = None, second: bool = False) -> Any:
    """The edge value of ``kind`` for ``profile`` (``second`` picks a different one, for list items)."""
    if kind in INT_RANGES:
        lo, hi = INT_RANGES[kind]
        values = {
            "zero": (0, 0),
            "min": (lo, lo + 1),
            "max": (hi, hi - 1),
            "special": (max(lo, -1), 1 << 31 if hi > 1 << 31 else 300),
        }
        return values[profile][second]
    if kind == "bool":
        return {"zero": False, "min": False, "max": True, "special": True}[profile] != second
    if kind in FLOAT_KINDS:
        biggest = DOUBLE_MAX if kind == "double" else FLOAT32_MAX
        values_f = {
            "zero": (0.0, -0.0),
            "min": (-math.inf, -biggest),
            "max": (math.inf, biggest),
            "special": (math.nan, 5e-324 if kind == "double" else 1.5),
        }
        return values_f[profile][second]
    if kind == "string":
        values_s = {
            "zero": ("", ""),
            "min": ("é", "a\x00b"),
            "max": ("🙂🚀👍🏽" * 20, "日本語の文字列" * 20),
            "special": ("e\u0301\u200d", "𝄞"),
        }
        return values_s[profile][second]
    if kind == "bytes":
        values_b = {
            "zero": (b"", b""),
            "min": (b"\x00", b"\x00\x00"),
            "max": (bytes(range(256)) * 2, b"\xff" * 130),
            "special": (b"\x80", b"\n"),
        }
        return values_b[profile][second]
    if kind == "enum":
        assert enum is not None
        members = sorted(enum, key=int)
        values_e = {
            "zero": (members[0], members[0]),
            "min": (members[0], members[-1]),
            "max": (members[-1], members[0]),
            "special": (members[len(members) // 2], members[-1]),
        }
        return values_e[profile][second]
    raise AssertionError(kind)


def edge_instance(cls: type[Message], profile: str, depth: int = 0) -> Message:
    """An instance of ``cls`` with every field set to the ``profile`` edge value."""
    kwargs: dict[str, Any] = {}
    for spec in cls._FIELDS:

        def one(second: bool, spec: FieldSpec = spec) -> Any:
            if spec.kind == "message":
                return edge_instance(spec.type, profile, depth + 1)
            return edge_scalar(spec.kind, profile, spec.type, second)

        kwargs[spec.name] = [one(False), one(True)] if spec.label == "repeated" else one(False)
    return cls(**kwargs)


def required_only(cls: type[Message], profile: str = "zero") -> Message:
    """An instance of ``cls`` with only its required fields set (to the ``profile`` edge values)."""
    message = edge_instance(cls, profile)
    for spec in cls._FIELDS:
        if spec.label == "optional":
            setattr(message, spec.name, None)
        elif spec.label == "repeated":
            setattr(message, spec.name, [])
    return message


# ---------------------------------------------------------------------------------------------
# Wire format by hand (for building inputs our encoder would never write)


def varint(value: int) -> bytes:
    """The protobuf varint of ``value`` (a negative value as its 64-bit two's complement)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def tag(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def split_fields(data: bytes) -> list[tuple[int, bytes]]:
    """Split a valid encoding into its top-level fields: (field number, the field's raw bytes with
    its tag). Groups are not supported (the schema has none)."""
    fields: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        start = pos
        key, pos = _read_varint(data, pos)
        wire = key & 7
        if wire == 0:
            _, pos = _read_varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            pos += size
        else:
            raise ValueError(f"wire type {wire} at {start}")
        fields.append((key >> 3, data[start:pos]))
    return fields


# ---------------------------------------------------------------------------------------------
# Comparison of two of our messages (== cannot be used: NaN != NaN, -0.0 == 0.0)


def float_bits(kind: str, value: float) -> bytes:
    return struct.pack("<d" if kind == "double" else "<f", value)


def assert_same_value(
    spec: FieldSpec, expected: Any, actual: Any, where: str, exact_nan: bool = True
) -> None:
    kind = spec.kind
    if kind == "message":
        assert_same_message(expected, actual, where, exact_nan=exact_nan)
    elif kind in FLOAT_KINDS:
        assert type(actual) is float, f"{where}: {actual!r} is not a float"
        if not exact_nan and math.isnan(expected):
            assert math.isnan(actual), f"{where}: {actual!r} != {expected!r}"
        else:
            assert float_bits(kind, expected) == float_bits(kind, actual), (
                f"{where}: {actual!r} != {expected!r}"
            )
    elif kind == "enum":
        assert type(actual) is spec.type, f"{where}: {actual!r} is not a {spec.type.__name__}"
        assert int(actual) == int(expected), f"{where}: {actual!r} != {expected!r}"
    else:
        expected_type = {"bool": bool, "string": str, "bytes": bytes}.get(kind, int)
        assert type(actual) is expected_type, f"{where}: {actual!r} is not a {expected_type.__name__}"
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def assert_same_message(
    expected: Message, actual: Message, where: str = "", *, exact_nan: bool = True
) -> None:
    """Assert two of our messages hold the same values: floats bitwise (NaN equals NaN, -0.0 does
    not equal 0.0), and decoded values of exactly the right Python type.

    ``exact_nan=False``: any NaN equals any NaN (JSON's "NaN" keeps neither sign nor payload).
    """
    cls = type(expected)
    assert type(actual) is cls, f"{where or cls.__name__}: got a {type(actual).__name__}"
    for spec in cls._FIELDS:
        here = f"{where or cls.__name__}.{spec.name}"
        a, b = getattr(expected, spec.name), getattr(actual, spec.name)
        if spec.label == "repeated":
            assert type(b) is list, f"{here}: {b!r} is not a list"
            assert len(a) == len(b), f"{here}: {len(b)} items, expected {len(a)}"
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                assert_same_value(spec, x, y, f"{here}[{i}]", exact_nan)
        elif a is None or b is None:
            assert a is None and b is None, f"{here}: {b!r} != {a!r}"
        else:
            assert_same_value(spec, a, b, here, exact_nan)


# ---------------------------------------------------------------------------------------------
# The envelope, decoded the slow and obvious way


def reference_envelope(body: bytes) -> Envelope:
    """What ``decode_envelope`` must return: the generated ProtoMessage decoder, then the payload's."""
    envelope = messages.ProtoMessage.from_bytes(body)
    payload = envelope.payload or b""
    cls = PAYLOAD_TYPES.get(envelope.payload_type)
    message = UnknownMessage(envelope.payload_type, payload) if cls is None else cls.from_bytes(payload)
    return Envelope(envelope.payload_type, message, envelope.client_msg_id)


def assert_same_envelope(expected: Envelope, actual: Envelope) -> None:
    assert type(actual) is Envelope
    assert (actual.payload_type, actual.client_msg_id) == (expected.payload_type, expected.client_msg_id)
    if isinstance(expected.message, UnknownMessage):
        assert actual.message == expected.message and type(actual.message.payload) is bytes
    else:
        assert isinstance(actual.message, Message)
        assert_same_message(expected.message, actual.message)
