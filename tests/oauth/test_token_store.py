"""Token, TokenStore and StoredTokenProvider."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import time
from pathlib import Path

import pytest

from ctrader_sdk._exceptions import OAuthError
from ctrader_sdk.oauth import (
    TOKEN_FILE_ENV,
    OAuth,
    OAuthServerError,
    StoredTokenProvider,
    Token,
    TokenFormatError,
    TokenStore,
    TokenStoreError,
)

from .conftest import CLIENT_ID, CLIENT_SECRET, FakeTokenEndpoint, assert_no_secret

ACCESS = "AT-stored-access-secret"
REFRESH = "RT-stored-refresh-secret"


def make_token(expires_in: float = 3600.0, *, scope: str | None = "trading", n: int = 0) -> Token:
    return Token(f"{ACCESS}-{n}", f"{REFRESH}-{n}", time.time() + expires_in, scope=scope)


# ------------------------------------------------------------------------------------------------- Token


def test_expiry_helpers() -> None:
    token = make_token(100)
    assert not token.expired
    assert not token.expires_within(50)
    assert token.expires_within(150)
    assert 98 < token.expires_in <= 100
    old = make_token(-1)
    assert old.expired
    assert old.expires_within(0)
    assert old.expires_in < 0


def test_dict_round_trip() -> None:
    token = make_token(scope=None)
    data = token.to_dict()
    assert data == {
        "access_token": token.access_token,
        "refresh_token": token.refresh_token,
        "expires_at": token.expires_at,
        "token_type": "bearer",
        "scope": None,
    }
    assert Token.from_dict(json.loads(json.dumps(data))) == token
    assert Token.from_dict({**data, "expires_at": 5}).expires_at == 5.0  # an int is accepted


def test_from_dict_defaults_token_type() -> None:
    token = Token.from_dict({"access_token": "a", "refresh_token": "r", "expires_at": 1.5})
    assert (token.token_type, token.scope) == ("bearer", None)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"access_token": None}, "access_token"),
        ({"access_token": ""}, "access_token"),
        ({"refresh_token": 42}, "refresh_token"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"expires_at": True}, "expires_at"),
        ({"expires_at": float("nan")}, "expires_at"),
        ({"token_type": 1}, "token_type"),
        ({"scope": ["trading"]}, "scope"),
    ],
)
def test_from_dict_validates(change: dict[str, object], key: str) -> None:
    data = {**make_token().to_dict(), **change}
    with pytest.raises(TokenFormatError, match=key) as info:
        Token.from_dict(data)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, OAuthError)
    assert_no_secret(str(info.value), ACCESS, REFRESH)


def test_from_dict_refuses_a_non_mapping() -> None:
    with pytest.raises(TokenFormatError, match="JSON object"):
        Token.from_dict(["access_token"])  # type: ignore[arg-type]


def test_repr_hides_tokens() -> None:
    token = make_token()
    text = repr(token)
    assert "trading" in text and "<hidden>" in text
    assert_no_secret(text, ACCESS, REFRESH)
    assert_no_secret(str(token), ACCESS, REFRESH)


def test_token_is_frozen() -> None:
    token = make_token()
    with pytest.raises(AttributeError):
        token.access_token = "x"  # type: ignore[misc]


# -------------------------------------------------------------------------------------------- TokenStore


def test_missing_file_loads_none(tmp_path: Path) -> None:
    assert TokenStore(tmp_path / "nope.json").load() is None


def test_save_and_load(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "sub" / "token.json"
    store = TokenStore(path)
    token = make_token()
    store.save(token)
    assert store.load() == token
    document = json.loads(path.read_text())
    assert document["format"] == TokenStore.FORMAT == "ctrader_sdk.token/1"
    assert document["token"] == token.to_dict()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert os.listdir(path.parent) == ["token.json"]  # no temporary file left behind
    # Saving again replaces our own file.
    newer = make_token(n=1)
    store.save(newer)
    assert store.load() == newer
    assert os.listdir(path.parent) == ["token.json"]


def test_mode_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        TokenStore(tmp_path / "token.json").save(make_token())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "token.json").stat().st_mode) == 0o600


def test_failed_replace_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "token.json"
    store = TokenStore(path)
    old = make_token(n=1)
    store.save(old)
    before = path.read_bytes()

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(TokenStoreError, match="No space left") as info:
        store.save(make_token(n=2))
    assert info.value.path == path
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert store.load() == old
    assert os.listdir(tmp_path) == ["token.json"]


def test_failed_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(TokenStoreError, match="Input/output error"):
        TokenStore(tmp_path / "token.json").save(make_token())
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b'{"hello": "world"}', "not a ctrader_sdk token file"),
        (b'["format"]', "not a ctrader_sdk token file"),
        (b'{"format": "ctrader_sdk.token/2", "token": {}}', "ctrader_sdk.token/2"),
        (
            b'{"format": "ctrader_sdk.token/1", "token": {"access_token": "AT-stored-access-secret"}}',
            "corrupt",
        ),
        (b'{"format": "ctrader_sdk.token/1"}', "corrupt"),
    ],
)
def test_corrupt_or_foreign_file_is_reported_and_kept(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "token.json"
    path.write_bytes(content)
    store = TokenStore(path)
    with pytest.raises(TokenStoreError, match=message) as info:
        store.load()
    assert str(path) in str(info.value)
    assert_no_secret(str(info.value), ACCESS)
    with pytest.raises(TokenStoreError, match="refusing to overwrite"):
        store.save(make_token())
    assert path.read_bytes() == content
    store.save(make_token(), force=True)
    assert store.load() is not None


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.mkdir()  # a directory where the file should be: reading fails with an OSError
    with pytest.raises(TokenStoreError, match="cannot read"):
        TokenStore(path).load()


def test_exposed_file_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "token.json"
    store = TokenStore(path)
    store.save(make_token())
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="ctrader_sdk.oauth"):
        assert store.load() is not None
    assert "readable by other users" in caplog.text
    assert_no_secret(caplog.text, ACCESS, REFRESH)


def test_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(TOKEN_FILE_ENV, str(tmp_path / "explicit.json"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert TokenStore().path == tmp_path / "explicit.json"
    assert TokenStore(tmp_path / "arg.json").path == tmp_path / "arg.json"
    monkeypatch.delenv(TOKEN_FILE_ENV)
    assert TokenStore().path == tmp_path / "xdg" / "ctrader_sdk" / "token.json"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert TokenStore().path == tmp_path / "home" / ".config" / "ctrader_sdk" / "token.json"
    assert TokenStore.default_path() == TokenStore().path


# ----------------------------------------------------------------------------------- StoredTokenProvider


async def test_provider_returns_a_fresh_token_without_network(
    tmp_path: Path, token_endpoint: FakeTokenEndpoint
) -> None:
    store = TokenStore(tmp_path / "token.json")
    token = make_token(10 * 86_400)
    store.save(token)
    async with OAuth(CLIENT_ID, CLIENT_SECRET, token_url=token_endpoint.url) as oauth:
        provider = StoredTokenProvider(oauth, store, refresh_margin=3600)
        assert await provider() == token
    assert token_endpoint.queries == []
    assert_no_secret(repr(provider), CLIENT_SECRET, token.access_token)


async def test_provider_refreshes_once_and_saves(tmp_path: Path, token_endpoint: FakeTokenEndpoint) -> None:
    store = TokenStore(tmp_path / "token.json")
    old = make_token(60, scope="accounts")
    store.save(old)
    async with OAuth(CLIENT_ID, CLIENT_SECRET, token_url=token_endpoint.url) as oauth:
        provider = StoredTokenProvider(oauth, store, refresh_margin=3600)
        tokens = await asyncio.gather(*(provider() for _ in range(5)))
    # The refresh token is single-use: concurrent callers must not each spend it.
    assert [q["refresh_token"] for q in token_endpoint.queries] == [old.refresh_token]
    assert all(token == tokens[0] for token in tokens)
    assert tokens[0].access_token == token_endpoint.issued[0][0]
    assert tokens[0].scope == "accounts"
    assert store.load() == tokens[0]


async def test_provider_forced_refresh(tmp_path: Path, token_endpoint: FakeTokenEndpoint) -> None:
    store = TokenStore(tmp_path / "token.json")
    store.save(make_token(10 * 86_400))
    async with OAuth(CLIENT_ID, CLIENT_SECRET, token_url=token_endpoint.url) as oauth:
        new = await StoredTokenProvider(oauth, store).refresh()
    assert len(token_endpoint.queries) == 1
    assert store.load() == new


async def test_provider_without_token_or_on_refusal(
    tmp_path: Path, token_endpoint: FakeTokenEndpoint
) -> None:
    store = TokenStore(tmp_path / "token.json")
    async with OAuth(CLIENT_ID, CLIENT_SECRET, token_url=token_endpoint.url) as oauth:
        provider = StoredTokenProvider(oauth, store)
        with pytest.raises(TokenStoreError, match="log in first"):
            await provider()
        old = make_token(-10)
        store.save(old)
        token_endpoint.mode = "vendor_error"
        with pytest.raises(OAuthServerError):
            await provider()
    assert store.load() == old  # nothing new to store
