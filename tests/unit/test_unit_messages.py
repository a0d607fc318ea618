"""Generated message classes as Python objects: secrets kept out of ``repr``, dataclass introspection,
``__slots__``, keyword-only constructors, equality."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from conformance.strategies import ALL_MESSAGES, edge_instance

from ctrader_sdk import messages as m
from ctrader_sdk._wire import Message

IDS = [cls.__name__ for cls in ALL_MESSAGES]
SECRET = "s3cr3t-VALUE-\u00e9-12345"

SECRET_MESSAGES: list[tuple[type[Message], dict[str, Any], list[str]]] = [
    (m.ProtoOAApplicationAuthReq, {"client_id": "public-id", "client_secret": SECRET}, ["client_secret"]),
    (m.ProtoOAAccountAuthReq, {"ctid_trader_account_id": 42, "access_token": SECRET}, ["access_token"]),
    (m.ProtoOARefreshTokenReq, {"refresh_token": SECRET}, ["refresh_token"]),
    (
        m.ProtoOARefreshTokenRes,
        {
            "access_token": SECRET,
            "token_type": "bearer",
            "expires_in": 2_628_000,
            "refresh_token": SECRET + "r",
        },
        ["access_token", "refresh_token"],
    ),
    (m.ProtoOAGetAccountListByAccessTokenReq, {"access_token": SECRET}, ["access_token"]),
    (m.ProtoOAGetCtidProfileByTokenReq, {"access_token": SECRET}, ["access_token"]),
    (
        m.ProtoOAGetAccountListByAccessTokenRes,
        {"access_token": SECRET, "permission_scope": m.ProtoOAClientPermissionScope.SCOPE_TRADE},
        ["access_token"],
    ),
]


@pytest.mark.parametrize(
    ("cls", "kwargs", "secrets"), SECRET_MESSAGES, ids=[c.__name__ for c, _, _ in SECRET_MESSAGES]
)
def test_repr_hides_secrets(cls: type[Message], kwargs: dict[str, Any], secrets: list[str]) -> None:
    message = cls(**kwargs)
    for text in (repr(message), str(message), f"{message}", repr([message]), repr({"k": message})):
        assert SECRET not in text and SECRET[:8] not in text, text
        assert text.count("'<redacted>'") == len(secrets), text
        for name in secrets:
            assert f"{name}='<redacted>'" in text
    for name, value in kwargs.items():  # the other fields are shown
        if name not in secrets:
            assert repr(value) in repr(message)
    # the secret is still what gets sent
    assert SECRET.encode() in message.to_bytes()
    assert cls.from_bytes(message.to_bytes()) == message
    assert {spec.name for spec in cls._FIELDS if spec.secret} == set(secrets)


def test_secret_fields_of_the_release() -> None:
    secret = {(cls.__name__, spec.name) for cls in ALL_MESSAGES for spec in cls._FIELDS if spec.secret}
    assert secret == {(cls.__name__, name) for cls, _, names in SECRET_MESSAGES for name in names}
    for cls in ALL_MESSAGES:  # every field named like a credential is secret
        for spec in cls._FIELDS:
            if spec.proto_name in {"clientSecret", "accessToken", "refreshToken"}:
                assert spec.secret, f"{cls.__name__}.{spec.name}"


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=IDS)
def test_dataclass_introspection(cls: type[Message]) -> None:
    assert dataclasses.is_dataclass(cls)
    fields = dataclasses.fields(cls)
    assert [f.name for f in fields] == [spec.name for spec in cls._FIELDS]
    for f, spec in zip(fields, cls._FIELDS, strict=True):
        assert f.metadata["proto_name"] == spec.proto_name
        assert f.metadata["number"] == spec.number
    assert "payload_type" not in {f.name for f in fields} or cls is m.ProtoMessage
    instance = edge_instance(cls, "special")
    if fields:
        first = cls._FIELDS[0]
        other = edge_instance(cls, "max")
        changed = dataclasses.replace(instance, **{first.name: getattr(other, first.name)})
        assert type(changed) is cls and changed is not instance
        assert getattr(changed, first.name) == getattr(other, first.name)
        for spec in cls._FIELDS[1:]:
            assert getattr(changed, spec.name) is getattr(instance, spec.name)


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=IDS)
def test_slots_and_constructor(cls: type[Message]) -> None:
    instance = edge_instance(cls, "zero")
    assert not hasattr(instance, "__dict__")
    with pytest.raises(AttributeError):
        instance.not_a_field = 1  # type: ignore[attr-defined]
    required = [spec.name for spec in cls._FIELDS if spec.label == "required"]
    if required:
        with pytest.raises(TypeError):
            cls()  # a required field missing
    if cls._FIELDS:
        with pytest.raises(TypeError):
            cls(getattr(instance, cls._FIELDS[0].name))  # keyword-only
    empty_lists = cls(**{name: getattr(instance, name) for name in required})
    for spec in cls._FIELDS:
        if spec.label == "optional":
            assert getattr(empty_lists, spec.name) is None
        elif spec.label == "repeated":
            assert getattr(empty_lists, spec.name) == []
    other = cls(**{name: getattr(instance, name) for name in required})
    for spec in cls._FIELDS:
        if spec.label == "repeated":
            assert getattr(other, spec.name) is not getattr(empty_lists, spec.name)  # no shared default


def test_equality() -> None:
    a = m.ProtoOASpotEvent(ctid_trader_account_id=1, symbol_id=2, bid=3)
    assert a == m.ProtoOASpotEvent(ctid_trader_account_id=1, symbol_id=2, bid=3)
    assert a != m.ProtoOASpotEvent(ctid_trader_account_id=1, symbol_id=2)
    assert a != m.ProtoOASpotEvent(ctid_trader_account_id=1, symbol_id=2, bid=4)
    assert m.ProtoOAVersionReq() != m.ProtoOAAssetListReq(ctid_trader_account_id=0)
    assert m.ProtoOAAccountLogoutReq(ctid_trader_account_id=1) != m.ProtoOAAssetListReq(
        ctid_trader_account_id=1
    )
    assert m.ProtoOAVersionReq() == m.ProtoOAVersionReq()
    assert a != (1, 2, 3)


def test_payload_type_is_a_class_constant() -> None:
    assert m.ProtoOASpotEvent.PAYLOAD_TYPE == m.ProtoOAPayloadType.PROTO_OA_SPOT_EVENT
    assert m.ProtoHeartbeatEvent.PAYLOAD_TYPE == m.ProtoPayloadType.HEARTBEAT_EVENT
    assert m.ProtoOASymbol.PAYLOAD_TYPE is None
    with pytest.raises(TypeError):
        m.ProtoOAVersionReq(payload_type=2104)  # type: ignore[call-arg]
