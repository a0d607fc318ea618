"""Fuzzing the decoders of every message and of the envelope.

Malformed input must raise :class:`DecodeError` and nothing else (never ``IndexError``, ``KeyError``,
``UnicodeDecodeError``, ``struct.error``, ``RecursionError``) and never hang; input that happens to
decode is fine. Where mutated input is deterministic (every prefix, every single-bit flip of valid
encodings, structured garbage), upb is asked too, and the two must agree:

- upb accepts (and all required fields are there) → we accept with the same values, except that we
  refuse invalid UTF-8 in a string (upb does not check proto2 strings; the design wants an error);
- upb refuses → we refuse;
- an enum value the release does not know is kept by us as a pseudo-member, while upb (proto2
  enums are closed) moves it to its unknown fields, which can leave a required enum field unset there.
"""

from __future__ import annotations

import functools

import pytest
from google.protobuf.message import DecodeError as UpbDecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrader_sdk import DecodeError, Envelope, UnknownMessage, decode_envelope, encode_envelope
from ctrader_sdk import messages as m
from ctrader_sdk._generated.registry import PAYLOAD_TYPES
from ctrader_sdk._wire import Message

from .oracle import Oracle, assert_matches_upb
from .strategies import ALL_MESSAGES, assert_same_envelope, edge_instance, reference_envelope, varint

IDS = [cls.__name__ for cls in ALL_MESSAGES]
PAYLOAD_MESSAGES = [cls for cls in ALL_MESSAGES if cls.PAYLOAD_TYPE is not None]


def decode(cls: type[Message], data: bytes) -> Message | DecodeError:
    """Decode, returning the DecodeError instead of raising it; any other exception propagates."""
    try:
        return cls.from_bytes(data)
    except DecodeError as exc:
        assert str(exc).startswith("cannot decode Proto"), str(exc)  # names the message
        return exc


def _has_unknown_enum(message: Message) -> bool:
    for spec in message._FIELDS:
        value = getattr(message, spec.name)
        values = value if spec.label == "repeated" else [] if value is None else [value]
        for item in values:
            if spec.kind == "enum" and not item.is_known:
                return True
            if spec.kind == "message" and _has_unknown_enum(item):
                return True
    return False


def agree_with_upb(upb: Oracle, cls: type[Message], data: bytes) -> None:
    """Decode ``data`` with ours and with upb and check the outcomes agree (see the module doc)."""
    ours = decode(cls, data)
    theirs = upb.new(cls)
    try:
        theirs.ParseFromString(data)
        upb_ok = True
    except UpbDecodeError:
        upb_ok = False
    if isinstance(ours, DecodeError):
        if upb_ok and theirs.IsInitialized():
            assert "invalid UTF-8" in str(ours), f"we refuse what upb accepts: {ours} ({data.hex()})"
        return
    assert upb_ok, f"we accept what upb refuses: {ours!r} from {data.hex()}"
    if not theirs.IsInitialized():
        # Only possible when a required enum field holds a value upb moved to its unknown fields.
        assert _has_unknown_enum(ours), f"upb misses {theirs.FindInitializationErrors()} in {data.hex()}"
    assert_matches_upb(ours, theirs, no_unknown=False, closed_enums=True)


def sample_encodings(cls: type[Message]) -> list[bytes]:
    return [edge_instance(cls, profile).to_bytes() for profile in ("zero", "special")]


# ---------------------------------------------------------------------------------------------
# Random and structured garbage


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=IDS)
@settings(max_examples=20)
@given(data=st.binary(max_size=80))
def test_random_bytes(cls: type[Message], data: bytes) -> None:
    decode(cls, data)


@functools.cache
def _sub_payloads(cls: type[Message]) -> tuple[bytes, ...]:
    """Valid encodings of the message types nested in ``cls``."""
    return tuple(
        edge_instance(spec.type, profile).to_bytes()
        for spec in cls._FIELDS
        if spec.kind == "message"
        for profile in ("zero", "special")
    )


def _field(parts: tuple[int, int, bytes]) -> bytes:
    number, wire, value = parts
    return varint(number << 3 | wire) + value


def _length_delimited(parts: tuple[bytes, int]) -> bytes:
    body, error = parts
    return varint(max(0, len(body) + error)) + body


@functools.cache
def raw_fields(cls: type[Message]) -> st.SearchStrategy[bytes]:
    """Wire-format-shaped garbage for ``cls``: fields numbered like its own (and others), of every
    wire type (groups and the invalid 6/7 included), values well or badly formed (lengths off by
    one), valid nested sub-messages."""
    numbers = st.one_of(
        st.sampled_from(sorted({spec.number for spec in cls._FIELDS} | {1})),
        st.integers(0, 40),
        st.just((1 << 29) - 1),
    )
    bodies = st.one_of(st.text(max_size=8).map(str.encode), st.binary(max_size=12))
    subs = _sub_payloads(cls)
    if subs:
        bodies = st.one_of(st.sampled_from(subs), bodies)
    by_wire: dict[int, st.SearchStrategy[bytes]] = {
        0: st.integers(0, (1 << 64) - 1).map(varint),
        1: st.binary(min_size=8, max_size=8),
        2: st.tuples(bodies, st.sampled_from([0, 0, 0, 0, -1, 1])).map(_length_delimited),
        3: st.just(b""),
        4: st.just(b""),
        5: st.binary(min_size=4, max_size=4),
    }
    well_formed = [st.tuples(numbers, st.just(wire), value).map(_field) for wire, value in by_wire.items()]
    badly_formed = st.tuples(numbers, st.integers(0, 7), st.binary(max_size=12)).map(_field)
    return st.lists(st.one_of(*well_formed, badly_formed), max_size=8).map(b"".join)


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=IDS)
@settings(max_examples=20)
@given(data=st.data())
def test_structured_garbage(upb: Oracle, cls: type[Message], data: st.DataObject) -> None:
    agree_with_upb(upb, cls, data.draw(raw_fields(cls), label="input"))


# ---------------------------------------------------------------------------------------------
# Every prefix and every bit flip of valid encodings


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=IDS)
def test_truncations(upb: Oracle, cls: type[Message]) -> None:
    for data in sample_encodings(cls):
        for end in range(len(data)):
            agree_with_upb(upb, cls, data[:end])


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=IDS)
def test_bit_flips(upb: Oracle, cls: type[Message]) -> None:
    """Every single-bit flip of the "zero" encoding; one bit per byte (rotating) of the larger
    "special" one (NaN, ten-byte varints, non-ASCII strings)."""
    zero, special = sample_encodings(cls)
    flips = [(zero, i, bit) for i in range(len(zero)) for bit in range(8)]
    flips += [(special, i, i % 8) for i in range(len(special))]
    for data, i, bit in flips:
        mutable = bytearray(data)
        mutable[i] ^= 1 << bit
        agree_with_upb(upb, cls, bytes(mutable))


# ---------------------------------------------------------------------------------------------
# Inputs built to hurt


@pytest.mark.parametrize(
    "cls", [m.ProtoOAVersionReq, m.ProtoOASymbol, m.ProtoMessage], ids=lambda c: c.__name__
)
@pytest.mark.parametrize(
    "data",
    [
        b"\x0b" * 100_000,  # 100,000 nested start-groups (field 1) never closed
        b"\x13" * 5_000 + b"\x14" * 5_000,  # 5,000 nested groups (field 2), all closed
        b"\x0b" * 200 + b"\x0c" * 200,  # deeper than upb's limit of 100
    ],
    ids=["unclosed", "closed-5000", "closed-200"],
)
def test_deeply_nested_groups(cls: type[Message], data: bytes) -> None:
    assert isinstance(decode(cls, data), DecodeError)


@pytest.mark.parametrize(
    "data",
    [
        b"\x12\xff\xff\xff\xff\xff\xff\xff\xff\x7f",  # a length of 2**63 - 1
        b"\x12\xff\xff\xff\xff\x0f" + b"x" * 10,  # a length of 2**32 - 1
        b"\x10" + b"\xff" * 10 + b"\x01",  # an 11-byte varint
        b"\x80" * 20,  # a tag that never ends
        b"\x12\x80",  # a length that never ends
    ],
)
def test_hostile_lengths(data: bytes) -> None:
    for cls in (m.ProtoOAVersionRes, m.ProtoOASpotEvent, m.ProtoMessage):
        assert isinstance(decode(cls, data), DecodeError)


# ---------------------------------------------------------------------------------------------
# The envelope


def _decode_envelope(body: bytes) -> Envelope | DecodeError:
    """decode_envelope (whose fast path reads the envelope in place), checked against the generated
    ProtoMessage decoder: both refuse, or both give the same envelope."""
    try:
        expected = reference_envelope(body)
    except DecodeError:
        expected = None
    try:
        actual = decode_envelope(body)
    except DecodeError as exc:
        assert expected is None, f"decode_envelope refuses {body.hex()}: {exc}; expected {expected}"
        return exc
    assert expected is not None, f"decode_envelope accepts {body.hex()}: {actual}"
    assert_same_envelope(expected, actual)
    return actual


@settings(max_examples=300)
@given(body=st.binary(max_size=64))
def test_envelope_random_bodies(body: bytes) -> None:
    _decode_envelope(body)


@settings(max_examples=300)
@given(payload_type=st.sampled_from(sorted(PAYLOAD_TYPES)), payload=st.binary(max_size=48))
def test_envelope_random_payloads(payload_type: int, payload: bytes) -> None:
    body = m.ProtoMessage(payload_type=payload_type, payload=payload, client_msg_id="id").to_bytes()
    result = _decode_envelope(body)
    if not isinstance(result, DecodeError):
        assert result.payload_type == payload_type and result.client_msg_id == "id"
        assert type(result.message) is PAYLOAD_TYPES[payload_type]


def _in_order(parts: tuple[type[Message], int, bytes | None, str | None, int]) -> bytes:
    cls, type_error, payload, client_msg_id, cut = parts
    body = b"\x08" + varint((cls.PAYLOAD_TYPE or 0) + type_error)
    data = edge_instance(cls, "zero").to_bytes() if payload is None else payload
    body += b"\x12" + varint(len(data)) + data
    if client_msg_id is not None:
        encoded = client_msg_id.encode()
        body += b"\x1a" + varint(len(encoded)) + encoded
    return body[: len(body) - cut]


ENVELOPE_FIELDS = st.one_of(
    st.one_of(st.sampled_from(sorted(PAYLOAD_TYPES)), st.integers(0, (1 << 64) - 1)).map(
        lambda v: b"\x08" + varint(v)
    ),
    st.sampled_from(PAYLOAD_MESSAGES)
    .map(lambda c: edge_instance(c, "zero").to_bytes())
    .map(lambda p: b"\x12" + varint(len(p)) + p),
    st.binary(max_size=10).map(lambda p: b"\x12" + varint(len(p)) + p),
    st.text(max_size=5).map(lambda t: b"\x1a" + varint(len(t.encode())) + t.encode()),
    st.binary(max_size=6),
)
ENVELOPES = st.one_of(
    # as servers write them (the fast path), with the payload type, payload or the end a little off
    st.tuples(
        st.sampled_from(PAYLOAD_MESSAGES),
        st.sampled_from([0, 0, 0, 1, 1 << 32]),
        st.one_of(st.none(), st.binary(max_size=8)),
        st.one_of(st.none(), st.text(max_size=6)),
        st.sampled_from([0, 0, 0, 1, 2]),
    ).map(_in_order),
    # any fields in any order
    st.lists(ENVELOPE_FIELDS, min_size=1, max_size=4).map(b"".join),
)


@settings(max_examples=400)
@given(body=ENVELOPES)
def test_envelope_structured(body: bytes) -> None:
    _decode_envelope(body)


@pytest.mark.parametrize("cls", PAYLOAD_MESSAGES, ids=lambda c: c.__name__)
def test_envelope_truncations_and_bit_flips(cls: type[Message]) -> None:
    """Every prefix and every single-bit flip of an envelope (the payloads themselves are fuzzed
    above: the small "zero" instance is enough to hit every envelope field and the payload's start)."""
    body = encode_envelope(edge_instance(cls, "zero"), client_msg_id="cid-🙂")
    assert decode_envelope(body).client_msg_id == "cid-🙂"
    for end in range(len(body)):
        _decode_envelope(body[:end])
    mutable = bytearray(body)
    for i in range(len(body)):
        for bit in range(8):
            mutable[i] ^= 1 << bit
            _decode_envelope(bytes(mutable))
            mutable[i] ^= 1 << bit


@pytest.mark.parametrize("payload_type", [0, 1, 2099, max(PAYLOAD_TYPES) + 1, 9999, (1 << 32) - 1])
def test_envelope_unknown_payload_type(payload_type: int) -> None:
    assert payload_type not in PAYLOAD_TYPES
    payload = b"\x08\x01\x12\x03abc\xff\xfe"  # not even valid for any message: kept as is
    body = m.ProtoMessage(payload_type=payload_type, payload=payload, client_msg_id="7").to_bytes()
    envelope = decode_envelope(body)
    assert envelope.payload_type == payload_type
    assert envelope.message == UnknownMessage(payload_type, payload)
    assert type(envelope.message.payload) is bytes
    assert envelope.client_msg_id == "7"
    empty = decode_envelope(m.ProtoMessage(payload_type=payload_type).to_bytes())
    assert empty.message == UnknownMessage(payload_type, b"") and empty.client_msg_id is None
