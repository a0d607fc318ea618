"""login_flow: the local redirect listener, driven by an aiohttp client playing the browser."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import webbrowser
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from ctrader_sdk.oauth import (
    OAuth,
    OAuthDeniedError,
    OAuthListenerError,
    OAuthRedirectError,
    OAuthStateMismatchError,
    OAuthTimeoutError,
    Scope,
    Token,
    login_flow,
)

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    CODE,
    FakeTokenEndpoint,
    assert_no_secret,
    free_port,
    port_is_free,
)


@dataclass
class Flow:
    """A login_flow running in a task, with the grant page URLs it showed."""

    task: asyncio.Task[Token]
    urls: asyncio.Queue[str]
    redirect_uri: str
    port: int

    async def grant_url(self) -> str:
        getter = asyncio.ensure_future(self.urls.get())
        await asyncio.wait([getter, self.task], timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            if self.task.done():
                self.task.result()  # the flow failed: show why
            raise AssertionError("login_flow showed no URL")
        return getter.result()

    async def state(self) -> str:
        return parse_qs(urlsplit(await self.grant_url()).query)["state"][0]

    async def browse(self, params: Mapping[str, str], path: str | None = None) -> tuple[int, str]:
        """Play the browser coming back from the grant page (on ``path`` of 127.0.0.1 if given)."""
        url = self.redirect_uri if path is None else f"http://127.0.0.1:{self.port}{path}"
        async with aiohttp.ClientSession() as browser, browser.get(url, params=params) as response:
            return response.status, await response.text()


StartFlow = Callable[..., Flow]
"""Starts login_flow in a task on a free port: ``start_flow(path=..., host=..., **login_flow_options)``."""


@pytest.fixture
async def start_flow(token_endpoint: FakeTokenEndpoint) -> AsyncIterator[StartFlow]:
    tasks: list[asyncio.Task[Token]] = []
    async with OAuth(CLIENT_ID, CLIENT_SECRET, token_url=token_endpoint.url) as oauth:

        def start(path: str = "/callback", host: str = "127.0.0.1", **kwargs: object) -> Flow:
            port = free_port()
            oauth.redirect_uri = f"http://{host}:{port}{path}"
            urls: asyncio.Queue[str] = asyncio.Queue()
            options: dict[str, object] = {"open_browser": False, "timeout": 10.0, "show_url": urls.put_nowait}
            options.update(kwargs)
            task = asyncio.create_task(login_flow(oauth, **options))  # type: ignore[arg-type]
            tasks.append(task)
            return Flow(task, urls, oauth.redirect_uri, port)

        yield start
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_success(
    start_flow: StartFlow, token_endpoint: FakeTokenEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    flow = start_flow(scope=Scope.ACCOUNTS)
    grant_url = await flow.grant_url()
    query = parse_qs(urlsplit(grant_url).query)
    assert query["redirect_uri"] == [flow.redirect_uri]
    assert query["scope"] == ["accounts"]
    assert len(query["state"][0]) >= 32  # a random state was generated
    status, page = await flow.browse({"code": CODE, "state": query["state"][0]})
    token = await flow.task
    assert status == 200
    assert "Login successful" in page
    assert token.access_token == token_endpoint.issued[0][0]
    assert token.scope == "accounts"
    assert token_endpoint.queries[0]["code"] == CODE
    assert token_endpoint.queries[0]["redirect_uri"] == flow.redirect_uri
    assert port_is_free(flow.port)
    # Neither our logger nor aiohttp's access log may have written the code or the tokens.
    assert_no_secret(caplog.text, CODE, CLIENT_SECRET, token.access_token, token.refresh_token)


async def test_given_state_is_sent_and_checked(start_flow: StartFlow) -> None:
    flow = start_flow(state="my state/+&=")
    assert await flow.state() == "my state/+&="
    status, _ = await flow.browse({"code": CODE, "state": "my state/+&="})
    assert status == 200
    await flow.task


async def test_state_mismatch_is_refused(start_flow: StartFlow, token_endpoint: FakeTokenEndpoint) -> None:
    flow = start_flow()
    await flow.grant_url()
    status, page = await flow.browse({"code": CODE, "state": "forged"})
    with pytest.raises(OAuthStateMismatchError) as info:
        await flow.task
    assert isinstance(info.value, OAuthRedirectError)
    assert status == 400
    assert "Login refused" in page
    assert token_endpoint.queries == []  # the code was not exchanged
    assert_no_secret(str(info.value), CODE)
    assert port_is_free(flow.port)


async def test_missing_state_is_accepted_with_a_warning(
    start_flow: StartFlow, token_endpoint: FakeTokenEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    flow = start_flow()
    await flow.grant_url()
    with caplog.at_level(logging.WARNING, logger="ctrader_sdk.oauth"):
        status, _ = await flow.browse({"code": CODE})
        token = await flow.task
    assert status == 200
    assert token.access_token == token_endpoint.issued[0][0]
    assert any(r.levelno == logging.WARNING and "no 'state'" in r.getMessage() for r in caplog.records)


async def test_denied_consent(start_flow: StartFlow, token_endpoint: FakeTokenEndpoint) -> None:
    flow = start_flow()
    state = await flow.state()
    status, page = await flow.browse(
        {"error": "access_denied", "error_description": "User <b>declined</b>", "state": state}
    )
    with pytest.raises(OAuthDeniedError) as info:
        await flow.task
    assert (info.value.error, info.value.description) == ("access_denied", "User <b>declined</b>")
    assert status == 400
    assert "access_denied" in page
    assert "User &lt;b&gt;declined&lt;/b&gt;" in page  # escaped, not markup
    assert token_endpoint.queries == []


async def test_stray_requests_do_not_end_the_flow(start_flow: StartFlow) -> None:
    flow = start_flow(path="/cb/here")
    state = await flow.state()
    assert (await flow.browse({}))[0] == 400  # the redirect path opened by hand
    assert (await flow.browse({"code": CODE}, path="/favicon.ico"))[0] == 404
    assert not flow.task.done()
    status, _ = await flow.browse({"code": CODE, "state": state})
    assert status == 200
    await flow.task


async def test_timeout_closes_the_listener() -> None:
    port = free_port()
    shown: list[str] = []
    oauth = OAuth(CLIENT_ID, CLIENT_SECRET, redirect_uri=f"http://127.0.0.1:{port}/callback")
    started = time.monotonic()
    with pytest.raises(OAuthTimeoutError) as info:
        await login_flow(oauth, open_browser=False, timeout=0.3, show_url=shown.append)
    assert 0.3 <= time.monotonic() - started < 3
    assert isinstance(info.value, TimeoutError)
    assert len(shown) == 1
    assert port_is_free(port)
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))


async def test_port_in_use() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        oauth = OAuth(CLIENT_ID, CLIENT_SECRET, redirect_uri=f"http://127.0.0.1:{port}/callback")
        with pytest.raises(OAuthListenerError, match=str(port)):
            await login_flow(oauth, open_browser=False, timeout=1, show_url=print)


@pytest.mark.parametrize(
    "redirect",
    ["https://127.0.0.1:8080/callback", "http://example.com/callback", "http://10.0.0.1:8080/cb", None],
)
async def test_redirect_uri_must_be_http_on_loopback(redirect: str | None) -> None:
    oauth = OAuth(CLIENT_ID, CLIENT_SECRET, redirect_uri=redirect)
    with pytest.raises(ValueError, match="redirect"):
        await login_flow(oauth, open_browser=False, timeout=1)


async def test_localhost_redirect_listens_on_127_0_0_1(start_flow: StartFlow) -> None:
    flow = start_flow(host="localhost")
    assert flow.redirect_uri.startswith("http://localhost:")
    state = await flow.state()
    assert (await flow.browse({"code": CODE, "state": state}, path="/callback"))[0] == 200
    await flow.task


async def test_browser_is_opened_with_the_grant_url(
    start_flow: StartFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []

    def fake_open(url: str) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr(webbrowser, "open", fake_open)
    flow = start_flow(open_browser=True)
    for _ in range(100):
        if opened:
            break
        await asyncio.sleep(0.02)
    assert len(opened) == 1
    assert flow.urls.empty()  # shown only when no browser could be opened
    state = parse_qs(urlsplit(opened[0]).query)["state"][0]
    assert (await flow.browse({"code": CODE, "state": state}))[0] == 200
    await flow.task


async def test_url_is_shown_when_no_browser_opens(
    start_flow: StartFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webbrowser, "open", lambda url: False)
    flow = start_flow(open_browser=True)
    state = await flow.state()
    assert (await flow.browse({"code": CODE, "state": state}))[0] == 200
    await flow.task
