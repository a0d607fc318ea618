"""The ``ProtoMessage`` envelope: a frame body is ``{payloadType, payload, clientMsgId}``.

:func:`encode_envelope` wraps a message; :func:`decode_envelope` unwraps a frame body through the
generated payload-type registry. A payload type this release does not know yields an
:class:`~ctrader_sdk._wire.UnknownMessage` carrying the raw payload, never an exception.
"""

from __future__ import annotations

from typing import NamedTuple

from ctrader_sdk._exceptions import EncodeError
from ctrader_sdk._generated.common_messages import ProtoMessage
from ctrader_sdk._generated.registry import DECODERS
from ctrader_sdk._wire import (
    Message,
    UnknownMessage,
    WireError,
    as_bytes,
    put_string,
    put_uvarint,
    read_varint,
)

__all__ = ["Envelope", "decode_envelope", "encode_envelope"]


class Envelope(NamedTuple):
    """One decoded frame body.

    Attributes:
        payload_type: the payload type announced by the envelope.
        message: the decoded message, or :class:`UnknownMessage` for a payload type this release lacks.
        client_msg_id: the correlation id echoed by the server on answers; ``None`` on events.
    """

    payload_type: int
    message: Message | UnknownMessage
    client_msg_id: str | None


def encode_envelope(message: Message, client_msg_id: str | None = None) -> bytes:
    """Encode ``message`` inside a ``ProtoMessage`` envelope (the frame body, without the length prefix).

    Raises:
        EncodeError: the message cannot be encoded, or has no payload type (a model message such as
            ``ProtoOASymbol`` cannot be sent on its own).
    """
    payload_type = message.PAYLOAD_TYPE
    if payload_type is None:
        raise EncodeError(f"{type(message).__name__} has no payload type and cannot be sent on its own")
    payload = message.to_bytes()
    out = bytearray(b"\x08")
    put_uvarint(out, payload_type)
    out += b"\x12"
    put_uvarint(out, len(payload))
    out += payload
    if client_msg_id is not None:
        out += b"\x1a"
        put_string(out, client_msg_id, "ProtoMessage.client_msg_id")
    return bytes(out)


# Envelope(...) goes through a Python-level __new__; tuple.__new__ builds the same object ~3x faster.
_envelope = tuple.__new__


def decode_envelope(body: bytes | bytearray | memoryview) -> Envelope:
    """Decode a frame body into its payload type, message and client message id.

    The envelope as every server writes it (payloadType, payload, then an optional clientMsgId) is
    read in place and the payload decoded without copying it; anything else (fields out of order,
    unknown fields, malformed input) goes through the generated ``ProtoMessage`` decoder.

    Raises:
        DecodeError: the envelope or the payload is malformed (the text names message and field).
    """
    if not isinstance(body, bytes):  # copied once: the decoders slice payloads and strings out of bytes
        body = as_bytes(body, "ProtoMessage")
    try:
        end = len(body)
        if body[0] != 0x08:
            return _decode_general(body)
        payload_type = body[1]
        pos = 2
        if payload_type >= 0x80:  # every Open API payload type (50..2200) is a 1- or 2-byte varint
            second = body[2]
            if second < 0x80:
                payload_type = (payload_type & 0x7F) | (second << 7)
                pos = 3
            else:
                payload_type, pos = read_varint(body, pos, payload_type)
                payload_type &= 0xFFFFFFFF  # a uint32, truncated as ProtoMessage's decoder (and upb) do
        start = stop = pos
        if pos < end and body[pos] == 0x12:
            size = body[pos + 1]
            start = pos + 2
            if size >= 0x80:
                size, start = read_varint(body, start, size)
            stop = start + size
        client_msg_id = None
        if stop < end:
            if body[stop] != 0x1A:
                return _decode_general(body)
            size = body[stop + 1]
            id_start = stop + 2
            if size >= 0x80:
                size, id_start = read_varint(body, id_start, size)
            if id_start + size != end:
                return _decode_general(body)
            client_msg_id = body[id_start:end].decode()
        elif stop > end:
            return _decode_general(body)
    except (IndexError, UnicodeDecodeError, WireError):
        return _decode_general(body)
    decoder = DECODERS.get(payload_type)
    if decoder is None:
        return _envelope(
            Envelope, (payload_type, UnknownMessage(payload_type, body[start:stop]), client_msg_id)
        )
    return _envelope(Envelope, (payload_type, decoder(body, start, stop), client_msg_id))


def _decode_general(body: bytes) -> Envelope:
    envelope = ProtoMessage.from_bytes(body)
    payload_type = envelope.payload_type
    payload = envelope.payload or b""
    decoder = DECODERS.get(payload_type)
    if decoder is None:
        return Envelope(payload_type, UnknownMessage(payload_type, payload), envelope.client_msg_id)
    return Envelope(payload_type, decoder(payload, 0, len(payload)), envelope.client_msg_id)
