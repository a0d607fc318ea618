"""The ``ProtoMessage`` envelope: a frame body is ``{payloadType, payload, clientMsgId}``.

:func:`encode_envelope` wraps a message; :func:`decode_envelope` unwraps a frame body through the
generated payload-type registry. A payload type this release does not know yields an
:class:`~ctrader_sdk._wire.UnknownMessage` carrying the raw payload, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctrader_sdk._exceptions import EncodeError
from ctrader_sdk._generated.common_messages import ProtoMessage
from ctrader_sdk._generated.registry import PAYLOAD_TYPES
from ctrader_sdk._wire import Message, UnknownMessage, put_string, put_uvarint

__all__ = ["Envelope", "decode_envelope", "encode_envelope"]


@dataclass(frozen=True, slots=True)
class Envelope:
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


def decode_envelope(body: bytes) -> Envelope:
    """Decode a frame body into its payload type, message and client message id.

    Raises:
        DecodeError: the envelope or the payload is malformed (the text names message and field).
    """
    envelope = ProtoMessage.from_bytes(body)
    payload_type = envelope.payload_type
    payload = envelope.payload or b""
    cls = PAYLOAD_TYPES.get(payload_type)
    message: Message | UnknownMessage
    message = UnknownMessage(payload_type, payload) if cls is None else cls.from_bytes(payload)
    return Envelope(payload_type, message, envelope.client_msg_id)
