"""Every message and enum of the current proto release, by its proto name.

    from ctrader_sdk.messages import ProtoOANewOrderReq, ProtoOAOrderType, ProtoOATradeSide

Messages are dataclasses with ``to_bytes()``/``from_bytes()`` and ``to_dict()``/``from_dict()``;
enums are ``IntEnum`` subclasses that decode unknown values to ``UNKNOWN_<n>`` pseudo-members.
"""

from ctrader_sdk._generated import *  # noqa: F403  (the generated package defines an exact __all__)
from ctrader_sdk._generated import RELEASE
from ctrader_sdk._generated import __all__ as _generated_all

__all__ = ["RELEASE", *_generated_all]
