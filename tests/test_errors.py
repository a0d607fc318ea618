"""The generated per-code exception classes and the handwritten exception tree."""

from __future__ import annotations

import pytest

import ctrader_sdk
from ctrader_sdk import errors
from ctrader_sdk.messages import ProtoErrorCode, ProtoOAErrorCode


def test_one_class_per_error_code_of_both_enums() -> None:
    codes = {m.name for m in ProtoErrorCode} | {m.name for m in ProtoOAErrorCode}
    assert set(errors.ERROR_CLASSES) == codes
    for code, cls in errors.ERROR_CLASSES.items():
        assert issubclass(cls, ctrader_sdk.ServerError)
        assert cls.CODE == code
        assert errors.error_class(code) is cls
        assert cls.__doc__ and code in cls.__doc__


def test_unknown_code_falls_back_to_server_error() -> None:
    assert errors.error_class("SOMETHING_NEW") is ctrader_sdk.ServerError
    exc = errors.error_class("SOMETHING_NEW")("SOMETHING_NEW", "new in a later release")
    assert exc.code == "SOMETHING_NEW" and str(exc) == "SOMETHING_NEW: new in a later release"


def test_server_error_carries_the_vendor_fields() -> None:
    exc = errors.BlockedPayloadTypeError(
        "BLOCKED_PAYLOAD_TYPE", "rate limit", retry_after=3, ctid_trader_account_id=7
    )
    assert (exc.retry_after, exc.ctid_trader_account_id, exc.description) == (3, 7, "rate limit")
    assert str(exc) == "BLOCKED_PAYLOAD_TYPE: rate limit (retry after 3 s)"
    maintenance = errors.error_class("SERVER_IS_UNDER_MAINTENANCE")
    assert (
        maintenance("SERVER_IS_UNDER_MAINTENANCE", maintenance_end_timestamp=1700).maintenance_end_timestamp
        == 1700
    )


@pytest.mark.parametrize(
    ("cls", "stdlib"),
    [
        (ctrader_sdk.CTraderConnectionError, ConnectionError),
        (ctrader_sdk.CTraderTimeoutError, TimeoutError),
        (ctrader_sdk.EncodeError, ValueError),
    ],
)
def test_exceptions_also_subclass_the_matching_stdlib_error(
    cls: type[Exception], stdlib: type[Exception]
) -> None:
    assert issubclass(cls, stdlib) and issubclass(cls, ctrader_sdk.CTraderError)


def test_everything_derives_from_one_root() -> None:
    for name in ctrader_sdk.__all__:
        obj = getattr(ctrader_sdk, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, ctrader_sdk.CTraderError), name
    assert issubclass(ctrader_sdk.DecodeError, ctrader_sdk.ProtocolError)
    assert issubclass(ctrader_sdk.OrderError, ctrader_sdk.ServerError)
