"""The exception tree of ctrader_sdk.

Everything the SDK raises on purpose derives from :class:`CTraderError`::

    CTraderError
    ├── ProtocolError                 the bytes on the wire make no sense
    │   ├── DecodeError               a message could not be decoded (names message and field)
    │   └── FrameTooLargeError        a frame above the configured maximum was refused
    ├── EncodeError (also ValueError) a message could not be encoded (names message.field)
    ├── CTraderConnectionError (also ConnectionError)   no answer: the connection failed or dropped
    ├── CTraderTimeoutError (also TimeoutError)         no answer in time
    ├── ClientClosedError             the client was closed, or used before it was opened
    ├── ServerError                   the server said no (ProtoOAErrorRes / ProtoErrorRes)
    │   ├── <one generated class per error code>, e.g. BlockedPayloadTypeError
    │   └── OrderError                ProtoOAOrderErrorEvent (a trading request was refused); the class
    │                                 raised derives from both OrderError and the per-code class
    └── OAuthError                    the OAuth token endpoint failed (see ctrader_sdk.oauth)

"No answer" errors (connection, timeout) are kept apart from "the server said no" errors
(:class:`ServerError` and its subclasses), as a caller handles them differently: the first may be
retried for reads, the second carries a vendor error code.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CTraderConnectionError",
    "CTraderError",
    "CTraderTimeoutError",
    "ClientClosedError",
    "DecodeError",
    "EncodeError",
    "FrameTooLargeError",
    "OAuthError",
    "OrderError",
    "ProtocolError",
    "ServerError",
]


class CTraderError(Exception):
    """Root of every exception raised on purpose by ctrader_sdk."""


class ProtocolError(CTraderError):
    """The peer sent bytes that do not form a valid frame or message."""


class DecodeError(ProtocolError):
    """A message could not be decoded; the text names the message and, where known, the field."""


class FrameTooLargeError(ProtocolError):
    """A frame announced a length above the configured maximum; it was refused before allocation."""


class EncodeError(CTraderError, ValueError):
    """A message could not be encoded: a required field is unset or a value is out of range or of the
    wrong type. The text names ``Message.field``; nothing was sent."""


class CTraderConnectionError(CTraderError, ConnectionError):
    """The connection could not be opened, or dropped while a request waited for its answer."""


class CTraderTimeoutError(CTraderError, TimeoutError):
    """No answer arrived within the timeout."""


class ClientClosedError(CTraderError):
    """The client is closed (or not yet connected) and cannot be used for this call."""


class ServerError(CTraderError):
    """The server answered with an error.

    Attributes:
        code: the vendor error code name, e.g. ``"BLOCKED_PAYLOAD_TYPE"`` (a string, as on the wire).
        description: the vendor's description, when given.
        retry_after: seconds until the payload type is unblocked (``BLOCKED_PAYLOAD_TYPE``), when given.
        maintenance_end_timestamp: end of the maintenance window as sent by the server, when given.
        ctid_trader_account_id: the account the error relates to, when given.
    """

    #: The error code this class stands for; ``None`` on the generic fallback classes.
    CODE: ClassVar[str | None] = None

    def __init__(
        self,
        code: str,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        maintenance_end_timestamp: int | None = None,
        ctid_trader_account_id: int | None = None,
    ) -> None:
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.maintenance_end_timestamp = maintenance_end_timestamp
        self.ctid_trader_account_id = ctid_trader_account_id
        text = code if not description else f"{code}: {description}"
        if retry_after is not None:
            text += f" (retry after {retry_after} s)"
        super().__init__(text)


class OrderError(ServerError):
    """A trading request was refused with ``ProtoOAOrderErrorEvent``.

    Attributes:
        order_id: the order concerned, when given.
        position_id: the position concerned, when given.
    """

    def __init__(
        self,
        code: str,
        description: str | None = None,
        *,
        order_id: int | None = None,
        position_id: int | None = None,
        ctid_trader_account_id: int | None = None,
    ) -> None:
        super().__init__(code, description, ctid_trader_account_id=ctid_trader_account_id)
        self.order_id = order_id
        self.position_id = position_id


class OAuthError(CTraderError):
    """Base of the OAuth helper's errors (see :mod:`ctrader_sdk.oauth`)."""
