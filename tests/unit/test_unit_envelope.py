"""The ``ProtoMessage`` envelope: round trip of every payload message, with and without a client message
id, and agreement of the in-place fast path with the generated ``ProtoMessage`` decoder."""

from __future__ import annotations

import pytest
from conformance.strategies import (
    ALL_MESSAGES,
    assert_same_envelope,
    assert_same_message,
    edge_instance,
    reference_envelope,
    tag,
    varint,
)

from ctrader_sdk import DecodeError, EncodeError, Envelope, UnknownMessage, decode_envelope, encode_envelope
from ctrader_sdk import messages as m
from ctrader_sdk._wire import Message

PAYLOAD_MESSAGES = [cls for cls in ALL_MESSAGES if cls.PAYLOAD_TYPE is not None]
MODEL_MESSAGES = [cls for cls in ALL_MESSAGES if cls.PAYLOAD_TYPE is None]


@pytest.mark.parametrize("client_msg_id", [None, "", "cid-1", "日本-🙂" * 20])
@pytest.mark.parametrize("profile", ["zero", "special", "max"])
@pytest.mark.parametrize("cls", PAYLOAD_MESSAGES, ids=[c.__name__ for c in PAYLOAD_MESSAGES])
def test_round_trip(cls: type[Message], profile: str, client_msg_id: str | None) -> None:
    message = edge_instance(cls, profile)
    body = encode_envelope(message, client_msg_id)
    reference = m.ProtoMessage(
        payload_type=cls.PAYLOAD_TYPE or 0, payload=message.to_bytes(), client_msg_id=client_msg_id
    )
    assert body == reference.to_bytes()
    envelope = decode_envelope(body)
    assert envelope.payload_type == cls.PAYLOAD_TYPE
    assert envelope.client_msg_id == client_msg_id
    assert_same_message(message, envelope.message)  # type: ignore[arg-type]
    assert_same_envelope(reference_envelope(body), envelope)


@pytest.mark.parametrize("cls", MODEL_MESSAGES, ids=[c.__name__ for c in MODEL_MESSAGES])
def test_model_message_cannot_be_sent(cls: type[Message]) -> None:
    with pytest.raises(EncodeError, match=cls.__name__):
        encode_envelope(edge_instance(cls, "zero"))


def test_unencodable_payload_or_id() -> None:
    with pytest.raises(EncodeError, match=r"ProtoOAVersionRes\.version"):
        encode_envelope(m.ProtoOAVersionRes(version=None))  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="client_msg_id"):
        encode_envelope(m.ProtoOAVersionReq(), "\ud800")
    with pytest.raises(EncodeError, match="client_msg_id"):
        encode_envelope(m.ProtoOAVersionReq(), 5)  # type: ignore[arg-type]


SPOT = m.ProtoOASpotEvent(ctid_trader_account_id=1, symbol_id=2, bid=3)
SPOT_TYPE = varint(m.ProtoOASpotEvent.PAYLOAD_TYPE or 0)
SPOT_PAYLOAD = tag(2, 2) + varint(len(SPOT.to_bytes())) + SPOT.to_bytes()

#: Bodies the fast path hands over to the general decoder, or must read exactly like it.
ODD_BODIES = {
    "in-order": tag(1, 0) + SPOT_TYPE + SPOT_PAYLOAD + tag(3, 2) + b"\x02id",
    "id-first": tag(3, 2) + b"\x02id" + tag(1, 0) + SPOT_TYPE + SPOT_PAYLOAD,
    "payload-first": SPOT_PAYLOAD + tag(1, 0) + SPOT_TYPE,
    "unknown-field": tag(1, 0) + SPOT_TYPE + SPOT_PAYLOAD + tag(9, 0) + b"\x01",
    "unknown-field-between": tag(1, 0) + SPOT_TYPE + tag(9, 5) + b"abcd" + SPOT_PAYLOAD,
    "unknown-field-after-id": tag(1, 0)
    + SPOT_TYPE
    + SPOT_PAYLOAD
    + tag(3, 2)
    + b"\x01x"
    + tag(9, 0)
    + b"\x01",
    "payload-type-twice": tag(1, 0) + b"\x05" + tag(1, 0) + SPOT_TYPE + SPOT_PAYLOAD,
    "non-minimal-payload-type": tag(1, 0) + b"\x83\x90\x80\x80\x00" + SPOT_PAYLOAD,
    "payload-type-above-32-bits": tag(1, 0)
    + varint((1 << 32) + (m.ProtoOASpotEvent.PAYLOAD_TYPE or 0))
    + SPOT_PAYLOAD,
    "payload-type-ten-bytes": tag(1, 0) + varint(-1) + SPOT_PAYLOAD,
    "no-payload": tag(1, 0) + varint(m.ProtoOAVersionReq.PAYLOAD_TYPE or 0),
    "no-payload-with-id": tag(1, 0) + varint(m.ProtoOAVersionReq.PAYLOAD_TYPE or 0) + tag(3, 2) + b"\x00",
    "empty-id": tag(1, 0) + SPOT_TYPE + SPOT_PAYLOAD + tag(3, 2) + b"\x00",
    "non-minimal-payload-length": tag(1, 0) + SPOT_TYPE + tag(2, 2) + b"\x89\x80\x00" + SPOT.to_bytes()[:9],
}


@pytest.mark.parametrize("body", ODD_BODIES.values(), ids=ODD_BODIES.keys())
def test_fast_path_agrees_with_the_general_decoder(body: bytes) -> None:
    try:
        expected = reference_envelope(body)
    except DecodeError:
        with pytest.raises(DecodeError):
            decode_envelope(body)
        return
    assert_same_envelope(expected, decode_envelope(body))
    assert_same_envelope(expected, decode_envelope(bytearray(body)))
    assert_same_envelope(expected, decode_envelope(memoryview(body)))


def test_payload_type_is_a_uint32() -> None:
    """A varint wider than 32 bits is truncated, as ProtoMessage's decoder (and upb) do."""
    envelope = decode_envelope(ODD_BODIES["payload-type-above-32-bits"])
    assert envelope.payload_type == m.ProtoOASpotEvent.PAYLOAD_TYPE and envelope.message == SPOT


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x08",
        b"\x08\x80",
        tag(1, 0) + SPOT_TYPE + tag(2, 2) + b"\x7f" + SPOT.to_bytes(),  # payload length past the end
        tag(1, 0) + SPOT_TYPE + SPOT_PAYLOAD + tag(3, 2) + b"\x05id",  # id length past the end
        tag(1, 0) + SPOT_TYPE + SPOT_PAYLOAD + tag(3, 2) + b"\x02\xc3\x28",  # id not UTF-8
        tag(1, 0) + SPOT_TYPE + tag(2, 2) + b"\x01\x10",  # a payload that does not decode
        SPOT_PAYLOAD,  # no payload type
        tag(1, 0) + SPOT_TYPE + SPOT_PAYLOAD + b"\x1a",
        tag(1, 0) + SPOT_TYPE + SPOT_PAYLOAD + tag(9, 7),
    ],
)
def test_malformed_envelopes(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_envelope(body)
    with pytest.raises(DecodeError):
        reference_envelope(body)


def test_unknown_payload_type_keeps_the_raw_payload() -> None:
    raw = b"\xff\xfe not a message"
    body = tag(1, 0) + varint(4242) + tag(2, 2) + varint(len(raw)) + raw + tag(3, 2) + b"\x01z"
    envelope = decode_envelope(body)
    assert envelope == Envelope(4242, UnknownMessage(4242, raw), "z")
    assert type(decode_envelope(bytearray(body)).message.payload) is bytes  # type: ignore[union-attr]
    assert decode_envelope(tag(1, 0) + varint(4242)).message == UnknownMessage(4242, b"")


def test_not_bytes() -> None:
    with pytest.raises(TypeError):
        decode_envelope("text")  # type: ignore[arg-type]
