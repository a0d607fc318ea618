"""The public surface: exact export lists, and names that resolve."""

from __future__ import annotations

import inspect

import ctrader_sdk
import ctrader_sdk.messages
from ctrader_sdk import Message, ProtoEnum
from ctrader_sdk._generated import registry


def test_messages_module_exports_every_message_and_enum() -> None:
    exported = set(ctrader_sdk.messages.__all__) - {"RELEASE"}
    classes = {
        name
        for name, obj in vars(ctrader_sdk.messages).items()
        if inspect.isclass(obj)
        and (issubclass(obj, Message) or issubclass(obj, ProtoEnum))
        and obj not in (Message,)
    }
    assert exported == classes
    assert (
        len([n for n in exported if issubclass(getattr(ctrader_sdk.messages, n), Message)])
        == registry.MESSAGE_COUNT
    )
    assert ctrader_sdk.messages.RELEASE == ctrader_sdk.RELEASE == "91"


def test_every_payload_type_is_exported() -> None:
    for cls in registry.PAYLOAD_TYPES.values():
        assert getattr(ctrader_sdk.messages, cls.__name__) is cls


def test_root_all_is_sorted_unique_and_resolvable() -> None:
    names = ctrader_sdk.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(ctrader_sdk, name) is not None, name


def test_root_exports_every_public_name_it_defines() -> None:
    public = {name for name in vars(ctrader_sdk) if not name.startswith("_")} - {"annotations"}
    submodules = {name for name in public if inspect.ismodule(getattr(ctrader_sdk, name))}
    assert public - submodules <= set(ctrader_sdk.__all__)


def test_public_classes_present_themselves_as_ctrader_sdk() -> None:
    assert ctrader_sdk.DecodeError.__module__ == "ctrader_sdk"
    assert repr(ctrader_sdk.DecodeError) == "<class 'ctrader_sdk.DecodeError'>"
