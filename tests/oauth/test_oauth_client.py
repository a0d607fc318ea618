"""OAuth: authorization URL, code exchange, refresh and the typed errors, against a fake token endpoint."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import traceback
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from ctrader_sdk._exceptions import CTraderError, OAuthError
from ctrader_sdk.oauth import (
    DEFAULT_AUTH_URL,
    OAuth,
    OAuthConnectionError,
    OAuthHTTPError,
    OAuthMalformedResponseError,
    OAuthResponseError,
    OAuthServerError,
    OAuthTimeoutError,
    Scope,
    Token,
)

from .conftest import CLIENT_ID, CLIENT_SECRET, CODE, EXPIRES_IN, FakeTokenEndpoint, assert_no_secret

REDIRECT = "http://127.0.0.1:8080/callback"


def make_oauth(endpoint: FakeTokenEndpoint, **kwargs: object) -> OAuth:
    options: dict[str, object] = {"redirect_uri": REDIRECT, "token_url": endpoint.url, "timeout": 5.0}
    options.update(kwargs)
    return OAuth(CLIENT_ID, CLIENT_SECRET, **options)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ authorization URL


def test_authorization_url_has_the_vendor_query() -> None:
    oauth = OAuth(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT)
    url = oauth.authorization_url(scope=Scope.TRADING, state="abc")
    parts = urlsplit(url)
    assert url.startswith(DEFAULT_AUTH_URL + "?")
    assert parse_qs(parts.query, strict_parsing=True) == {
        "client_id": [CLIENT_ID],
        "redirect_uri": [REDIRECT],
        "scope": ["trading"],
        "product": ["web"],
        "state": ["abc"],
    }
    assert CLIENT_SECRET not in url


def test_authorization_url_encodes_special_characters() -> None:
    redirect = "http://127.0.0.1:8080/call back?x=1&y=é/+"
    state = "s&t=a+te/ % #é"
    oauth = OAuth(CLIENT_ID, CLIENT_SECRET, redirect_uri=redirect, auth_url="https://auth.example/grant")
    url = oauth.authorization_url(scope="accounts", state=state)
    parts = urlsplit(url)
    assert parts.fragment == ""  # the '#' of the state did not end the query
    query = parse_qs(parts.query, strict_parsing=True)
    assert query["redirect_uri"] == [redirect]
    assert query["state"] == [state]
    assert query["scope"] == ["accounts"]


def test_authorization_url_without_state_and_with_base_query() -> None:
    oauth = OAuth(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT, auth_url="https://auth.example/g?lang=en")
    url = oauth.authorization_url(scope=Scope.ACCOUNTS)
    query = parse_qs(urlsplit(url).query)
    assert "state" not in query
    assert query["lang"] == ["en"]
    assert query["scope"] == ["accounts"]


def test_authorization_url_rejects_unknown_scope_and_missing_redirect() -> None:
    with pytest.raises(ValueError):
        OAuth(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT).authorization_url(scope="everything")
    with pytest.raises(ValueError, match="redirect_uri"):
        OAuth(CLIENT_ID, CLIENT_SECRET).authorization_url()


def test_scope_is_a_string() -> None:
    assert Scope.TRADING == "trading"
    assert str(Scope.ACCOUNTS) == "accounts"
    assert f"{Scope.TRADING}" == "trading"
    assert Scope("accounts") is Scope.ACCOUNTS


def test_repr_hides_the_secret() -> None:
    oauth = OAuth(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT)
    assert CLIENT_ID in repr(oauth)
    assert_no_secret(repr(oauth), CLIENT_SECRET)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [(("", CLIENT_SECRET), {}), ((CLIENT_ID, ""), {}), ((CLIENT_ID, CLIENT_SECRET), {"timeout": 0})],
)
def test_constructor_validates(args: tuple[str, str], kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        OAuth(*args, **kwargs)


# ---------------------------------------------------------------------------------- exchange and refresh


async def test_exchange_code(token_endpoint: FakeTokenEndpoint) -> None:
    before = time.time()
    async with make_oauth(token_endpoint) as oauth:
        token = await oauth.exchange_code(CODE, scope=Scope.TRADING)
    assert token_endpoint.queries == [
        {
            "grant_type": "authorization_code",
            "code": CODE,
            "redirect_uri": REDIRECT,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    ]
    # The raw query decodes to the same values with the standard form decoding.
    raw = parse_qs(token_endpoint.raw_queries[0], strict_parsing=True)
    assert raw["code"] == [CODE]
    assert raw["client_secret"] == [CLIENT_SECRET]
    assert raw["redirect_uri"] == [REDIRECT]
    assert (token.access_token, token.refresh_token) == token_endpoint.issued[0]
    assert token.token_type == "bearer"
    assert token.scope == "trading"
    assert before + EXPIRES_IN <= token.expires_at <= time.time() + EXPIRES_IN
    assert not token.expired


async def test_refresh_with_a_string(token_endpoint: FakeTokenEndpoint) -> None:
    async with make_oauth(token_endpoint) as oauth:
        token = await oauth.refresh("RT-old/+&=")
    assert token_endpoint.queries == [
        {
            "grant_type": "refresh_token",
            "refresh_token": "RT-old/+&=",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    ]
    assert token.refresh_token == token_endpoint.issued[0][1]
    assert token.scope is None


async def test_refresh_with_a_token_keeps_its_scope(token_endpoint: FakeTokenEndpoint) -> None:
    old = Token("AT-old", "RT-old", time.time() + 10, scope="accounts")
    async with make_oauth(token_endpoint, redirect_uri=None) as oauth:  # refresh needs no redirect URI
        token = await oauth.refresh(old)
        overridden = await oauth.refresh(token, scope=Scope.TRADING)
    assert token_endpoint.queries[0]["refresh_token"] == "RT-old"
    assert token_endpoint.queries[1]["refresh_token"] == token.refresh_token
    assert token.scope == "accounts"
    assert overridden.scope == "trading"


async def test_without_context_manager_each_call_has_its_own_session(
    token_endpoint: FakeTokenEndpoint,
) -> None:
    oauth = make_oauth(token_endpoint)
    first = await oauth.exchange_code(CODE)
    second = await oauth.refresh(first)
    assert second.access_token != first.access_token
    await oauth.aclose()  # harmless when nothing is open


async def test_a_session_passed_in_is_used_and_left_open(token_endpoint: FakeTokenEndpoint) -> None:
    async with aiohttp.ClientSession() as session:
        async with make_oauth(token_endpoint, session=session) as oauth:
            await oauth.refresh("RT-1")
        assert not session.closed
        async with session.get(token_endpoint.url + "/apps/token") as response:
            assert response.status == 200


async def test_token_url_trailing_slash(token_endpoint: FakeTokenEndpoint) -> None:
    async with make_oauth(token_endpoint, token_url=token_endpoint.url + "/") as oauth:
        assert oauth.token_endpoint == token_endpoint.url + "/apps/token"
        await oauth.refresh("RT-1")
    assert len(token_endpoint.queries) == 1


async def test_empty_code_or_refresh_token_is_refused(token_endpoint: FakeTokenEndpoint) -> None:
    async with make_oauth(token_endpoint) as oauth:
        with pytest.raises(ValueError):
            await oauth.exchange_code("")
        with pytest.raises(ValueError):
            await oauth.refresh("")
    assert token_endpoint.queries == []


# ---------------------------------------------------------------------------------------------- errors


async def test_vendor_error_with_http_200(token_endpoint: FakeTokenEndpoint) -> None:
    token_endpoint.mode = "vendor_error"
    async with make_oauth(token_endpoint) as oauth:
        with pytest.raises(OAuthServerError) as info:
            await oauth.exchange_code(CODE)
    assert info.value.code == "ACCESS_DENIED"
    assert info.value.description == "Access denied"
    assert info.value.status == 200
    assert "ACCESS_DENIED" in str(info.value)
    assert isinstance(info.value, OAuthError)
    assert isinstance(info.value, CTraderError)


async def test_non_json_body(token_endpoint: FakeTokenEndpoint) -> None:
    token_endpoint.mode = "html"
    async with make_oauth(token_endpoint) as oauth:
        with pytest.raises(OAuthResponseError) as info:
            await oauth.refresh("RT-1")
    assert type(info.value) is OAuthResponseError
    assert info.value.status == 200
    assert "not JSON" in str(info.value)
    assert "text/html" in str(info.value)


async def test_http_500(token_endpoint: FakeTokenEndpoint) -> None:
    token_endpoint.mode = "500"
    async with make_oauth(token_endpoint) as oauth:
        with pytest.raises(OAuthHTTPError) as info:
            await oauth.refresh("RT-1")
    assert info.value.status == 500
    assert info.value.code is None
    assert "HTTP 500" in str(info.value)


async def test_http_error_with_vendor_code(token_endpoint: FakeTokenEndpoint) -> None:
    token_endpoint.mode = "400_json"
    async with make_oauth(token_endpoint) as oauth:
        with pytest.raises(OAuthHTTPError) as info:
            await oauth.exchange_code(CODE)
    assert (info.value.status, info.value.code) == (400, "INVALID_GRANT")
    assert info.value.description == "unknown grant_type"
    assert "INVALID_GRANT" in str(info.value)


async def test_redirect_is_not_followed(token_endpoint: FakeTokenEndpoint) -> None:
    token_endpoint.mode = "redirect"
    async with make_oauth(token_endpoint) as oauth:
        with pytest.raises(OAuthHTTPError) as info:
            await oauth.exchange_code(CODE)
    assert info.value.status == 302


@pytest.mark.parametrize(
    ("mode", "text"),
    [("no_access_token", "accessToken"), ("json_list", "list"), ("bad_expires", "expiresIn")],
)
async def test_malformed_answer(token_endpoint: FakeTokenEndpoint, mode: str, text: str) -> None:
    token_endpoint.mode = mode
    async with make_oauth(token_endpoint) as oauth:
        with pytest.raises(OAuthMalformedResponseError, match=text) as info:
            await oauth.exchange_code(CODE)
    assert info.value.status == 200
    assert isinstance(info.value, OAuthResponseError)


async def test_timeout(token_endpoint: FakeTokenEndpoint) -> None:
    token_endpoint.mode = "slow"
    started = time.monotonic()
    async with make_oauth(token_endpoint, timeout=0.2) as oauth:
        with pytest.raises(OAuthTimeoutError) as info:
            await oauth.exchange_code(CODE)
    assert time.monotonic() - started < 3
    assert isinstance(info.value, TimeoutError)
    assert "0.2 s" in str(info.value)
    assert len(token_endpoint.queries) == 1  # the request did arrive; the answer did not


async def test_connection_refused(closed_port: int) -> None:
    async with OAuth(CLIENT_ID, CLIENT_SECRET, token_url=f"http://127.0.0.1:{closed_port}") as oauth:
        with pytest.raises(OAuthConnectionError) as info:
            await oauth.refresh("RT-1")
    assert isinstance(info.value, ConnectionError)
    assert f"127.0.0.1:{closed_port}" in str(info.value)


ERROR_MODES = ["vendor_error", "vendor_error_echo", "html", "500", "400_json", "no_access_token", "slow"]


@pytest.mark.parametrize("mode", ERROR_MODES)
@pytest.mark.parametrize("grant", ["authorization_code", "refresh_token"])
async def test_errors_never_reveal_secrets(
    token_endpoint: FakeTokenEndpoint, caplog: pytest.LogCaptureFixture, mode: str, grant: str
) -> None:
    caplog.set_level(logging.DEBUG)
    token_endpoint.mode = mode
    refresh_token = "RT-secret/+&=refresh"
    async with make_oauth(token_endpoint, timeout=0.2) as oauth:
        with pytest.raises(OAuthError) as info:
            if grant == "authorization_code":
                await oauth.exchange_code(CODE)
            else:
                await oauth.refresh(refresh_token)
    exc = info.value
    rendered = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for text in (str(exc), repr(exc), rendered, caplog.text):
        assert_no_secret(text, CLIENT_SECRET, CODE, refresh_token)
    assert token_endpoint.queries[0]["client_secret"] == CLIENT_SECRET  # it was sent, only not shown


async def test_vendor_description_quoting_secrets_is_redacted(token_endpoint: FakeTokenEndpoint) -> None:
    token_endpoint.mode = "vendor_error_echo"
    async with make_oauth(token_endpoint) as oauth:
        with pytest.raises(OAuthServerError) as info:
            await oauth.exchange_code(CODE)
    assert info.value.description is not None
    assert "[redacted]" in info.value.description
    assert_no_secret(info.value.description, CLIENT_SECRET, CODE)


async def test_logged_url_is_redacted(
    token_endpoint: FakeTokenEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ctrader_sdk.oauth")
    async with make_oauth(token_endpoint) as oauth:
        token = await oauth.exchange_code(CODE)
    assert "grant_type=authorization_code" in caplog.text
    assert "client_secret=[redacted]" in caplog.text
    assert "code=[redacted]" in caplog.text
    assert_no_secret(caplog.text, CLIENT_SECRET, CODE, token.access_token, token.refresh_token)


class _TimeoutQuotingSession:
    """Stands in for aiohttp.ClientSession: fails like aiohttp does on a connect timeout, quoting the URL."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def get(self, url: object, **kwargs: object) -> object:
        self.urls.append(str(url))
        raise aiohttp.ConnectionTimeoutError(f"Connection timeout to host {url}")


async def test_aiohttp_messages_quoting_the_url_are_redacted() -> None:
    session = _TimeoutQuotingSession()
    oauth = OAuth(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT, session=session)  # type: ignore[arg-type]
    with pytest.raises(OAuthTimeoutError) as info:
        await oauth.exchange_code(CODE)
    assert CLIENT_SECRET.split("/")[0] in parse_qs(urlsplit(session.urls[0]).query)["client_secret"][0]
    exc = info.value
    assert exc.__cause__ is None and exc.__suppress_context__
    rendered = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    assert_no_secret(rendered, CLIENT_SECRET, CODE)


class _FailingSession:
    def get(self, url: object, **kwargs: object) -> object:
        raise aiohttp.ClientConnectionError(f"connection reset while fetching {url}")


async def test_connection_error_messages_are_redacted() -> None:
    oauth = OAuth(CLIENT_ID, CLIENT_SECRET, session=_FailingSession())  # type: ignore[arg-type]
    with pytest.raises(OAuthConnectionError) as info:
        await oauth.refresh("RT-secret-value")
    assert "[redacted]" in str(info.value)
    assert_no_secret(str(info.value), CLIENT_SECRET, "RT-secret-value")


def test_importing_does_not_import_aiohttp() -> None:
    root = Path(__file__).resolve().parents[2]
    code = "import sys, ctrader_sdk.oauth, ctrader_sdk.cli; assert 'aiohttp' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
