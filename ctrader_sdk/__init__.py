"""ctrader_sdk: a typed asyncio SDK for the cTrader Open API, generated from the official .proto files.

:class:`Client` connects to the Open API (``Client.connect(Endpoints.DEMO)``); messages and enums live in
:mod:`ctrader_sdk.messages`, one exception class per server error code in
:mod:`ctrader_sdk.errors`, the OAuth helper in :mod:`ctrader_sdk.oauth` and the protocol-faithful test
server in :mod:`ctrader_sdk.sandbox`.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

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

if _typing.TYPE_CHECKING:
    from ctrader_sdk._client import Client
    from ctrader_sdk._config import (
        Backoff,
        ClientConfig,
        Endpoint,
        Endpoints,
        RateLimits,
        ReconnectPolicy,
        RetryPolicy,
    )
    from ctrader_sdk._events import (
        Connected,
        Disconnected,
        EventStream,
        Reconnected,
        Subscription,
        TokenRefreshed,
    )
    from ctrader_sdk._tokens import InProtocolTokenProvider

# The client runtime imports asyncio and ssl (~40 ms); it is loaded on first use of one of these names.
_LAZY: dict[str, str] = {
    "Backoff": "ctrader_sdk._config",
    "Client": "ctrader_sdk._client",
    "ClientConfig": "ctrader_sdk._config",
    "Connected": "ctrader_sdk._events",
    "Disconnected": "ctrader_sdk._events",
    "Endpoint": "ctrader_sdk._config",
    "Endpoints": "ctrader_sdk._config",
    "EventStream": "ctrader_sdk._events",
    "InProtocolTokenProvider": "ctrader_sdk._tokens",
    "RateLimits": "ctrader_sdk._config",
    "ReconnectPolicy": "ctrader_sdk._config",
    "Reconnected": "ctrader_sdk._events",
    "RetryPolicy": "ctrader_sdk._config",
    "Subscription": "ctrader_sdk._events",
    "TokenRefreshed": "ctrader_sdk._events",
}

__version__ = "0.1.0"

__all__ = [
    "NOT_GIVEN",
    "RELEASE",
    "Backoff",
    "CTraderConnectionError",
    "CTraderError",
    "CTraderTimeoutError",
    "Client",
    "ClientClosedError",
    "ClientConfig",
    "Connected",
    "DecodeError",
    "Disconnected",
    "EncodeError",
    "Endpoint",
    "Endpoints",
    "Envelope",
    "EventStream",
    "FrameDecoder",
    "FrameTooLargeError",
    "InProtocolTokenProvider",
    "Message",
    "NotGiven",
    "OAuthError",
    "OrderError",
    "ProtoEnum",
    "ProtocolError",
    "RateLimits",
    "ReconnectPolicy",
    "Reconnected",
    "Request",
    "RetryPolicy",
    "ServerError",
    "Subscription",
    "TokenRefreshed",
    "UnknownMessage",
    "__version__",
    "decode_envelope",
    "encode_envelope",
    "encode_frame",
]


def __getattr__(name: str) -> _typing.Any:
    """Load the client runtime's public names on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    if isinstance(value, type):
        value.__module__ = __name__
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# Present the public classes as ctrader_sdk.X (in tracebacks and reprs), not as private modules.
for _name in __all__:
    if _name in _LAZY:
        continue
    _obj = globals()[_name]
    if isinstance(_obj, type) or callable(_obj):
        _obj.__module__ = __name__
del _name, _obj
