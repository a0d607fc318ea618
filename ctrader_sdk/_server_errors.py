"""Turning the server's error answers into typed exceptions.

``ProtoOAErrorRes`` and ``ProtoErrorRes`` become the generated class of their code (``error_class``),
``ServerError`` itself for a code this release does not know. ``ProtoOAOrderErrorEvent`` becomes a
class that is both that per-code class and :class:`OrderError`, so either ``except`` clause catches it.
"""

from __future__ import annotations

from functools import cache

from ctrader_sdk._exceptions import OrderError, ServerError
from ctrader_sdk._generated.common_messages import ProtoErrorRes
from ctrader_sdk._generated.errors import error_class
from ctrader_sdk._generated.messages import ProtoOAErrorRes, ProtoOAOrderErrorEvent
from ctrader_sdk._wire import Message

__all__ = ["ERROR_ANSWERS", "order_error_class", "server_error"]

#: The message classes that carry a refusal instead of an answer.
ERROR_ANSWERS: frozenset[type[Message]] = frozenset({ProtoOAErrorRes, ProtoErrorRes, ProtoOAOrderErrorEvent})


@cache
def order_error_class(code: str) -> type[OrderError]:
    """The exception class for an order refused with ``code``: a subclass of both :class:`OrderError`
    and the per-code class (``OrderError`` itself for a code this release does not know)."""
    base = error_class(code)
    if base is ServerError:
        return OrderError
    cls = type(base.__name__, (OrderError, base), {"__doc__": base.__doc__, "__module__": base.__module__})
    cls.__qualname__ = base.__qualname__
    return cls


def server_error(message: Message) -> ServerError | None:
    """The exception an error answer stands for, or None when ``message`` is not an error answer."""
    if isinstance(message, ProtoOAErrorRes):
        return error_class(message.error_code)(
            message.error_code,
            message.description,
            retry_after=message.retry_after,
            maintenance_end_timestamp=message.maintenance_end_timestamp,
            ctid_trader_account_id=message.ctid_trader_account_id,
        )
    if isinstance(message, ProtoOAOrderErrorEvent):
        return order_error_class(message.error_code)(
            message.error_code,
            message.description,
            order_id=message.order_id,
            position_id=message.position_id,
            ctid_trader_account_id=message.ctid_trader_account_id,
        )
    if isinstance(message, ProtoErrorRes):
        return error_class(message.error_code)(
            message.error_code,
            message.description,
            maintenance_end_timestamp=message.maintenance_end_timestamp,
        )
    return None
