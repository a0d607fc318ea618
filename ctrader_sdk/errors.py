"""Server errors: one exception class per error code of the current proto release.

Every class derives from :class:`ctrader_sdk.ServerError` and carries its code in ``CODE``;
:func:`error_class` maps a code string (as the server sends it) to its class, with
:class:`~ctrader_sdk.ServerError` itself as the fallback for codes this release does not know.

    try:
        await client.get_trendbars(...)
    except errors.BlockedPayloadTypeError as exc:
        print(exc.retry_after)
"""

from ctrader_sdk._exceptions import OrderError, ServerError
from ctrader_sdk._generated.errors import *  # noqa: F403  (exact __all__ in the generated module)
from ctrader_sdk._generated.errors import __all__ as _generated_all

__all__ = ["OrderError", "ServerError", *_generated_all]
