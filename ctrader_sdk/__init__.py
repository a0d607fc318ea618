"""ctrader_sdk: a typed asyncio SDK for the cTrader Open API, generated from the official .proto files.

Messages and enums live in :mod:`ctrader_sdk.messages`, one exception class per server error code in
:mod:`ctrader_sdk.errors`, the OAuth helper in :mod:`ctrader_sdk.oauth` and the protocol-faithful test
server in :mod:`ctrader_sdk.sandbox`.
"""

from __future__ import annotations

from ctrader_sdk._envelope import Envelope, decode_envelope, encode_envelope
from ctrader_sdk._exceptions import (
    ClientClosedError,
    CTraderConnectionError,
    CTraderError,
    CTraderTimeoutError,
    DecodeError,
    EncodeError,
    FrameTooLargeError,
    OAuthError,
    OrderError,
    ProtocolError,
    ServerError,
)
from ctrader_sdk._framing import FrameDecoder, encode_frame
from ctrader_sdk._generated.registry import RELEASE
from ctrader_sdk._wire import NOT_GIVEN, Message, NotGiven, ProtoEnum, Request, UnknownMessage

__version__ = "0.1.0"

__all__ = [
    "NOT_GIVEN",
    "RELEASE",
    "CTraderConnectionError",
    "CTraderError",
    "CTraderTimeoutError",
    "ClientClosedError",
    "DecodeError",
    "EncodeError",
    "Envelope",
    "FrameDecoder",
    "FrameTooLargeError",
    "Message",
    "NotGiven",
    "OAuthError",
    "OrderError",
    "ProtoEnum",
    "ProtocolError",
    "Request",
    "ServerError",
    "UnknownMessage",
    "__version__",
    "decode_envelope",
    "encode_envelope",
    "encode_frame",
]

# Present the public classes as ctrader_sdk.X (in tracebacks and reprs), not as private modules.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
