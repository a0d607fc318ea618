"""Access token renewal by the client (``Client(token_provider=...)``) against the real sandbox.

The sandbox plays the vendor's token rules: an access token lives ``access_token_lifetime`` seconds, a
refresh (in-protocol, or here over HTTP through a local token endpoint wired to the sandbox's token
registry) revokes the old access token at once, and the server then ends the sessions authorised with
it (``ProtoOAAccountsTokenInvalidatedEvent``), subscriptions included.
"""

from __future__ import annotations

import asyncio
import logging
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from client_support import eventually, fast_config

from ctrader_sdk import (
    Client,
    ClientConfig,
    Endpoint,
    InProtocolTokenProvider,
    Reconnected,
    TokenRefreshed,
)
from ctrader_sdk.errors import ChAccessTokenInvalidError
from ctrader_sdk.messages import (
    ProtoOAErrorCode,
    ProtoOARefreshTokenReq,
    ProtoOASpotEvent,
    ProtoOASubscribeSpotsReq,
)
from ctrader_sdk.oauth import OAuth, StoredTokenProvider, Token, TokenStore
from ctrader_sdk.sandbox import Sandbox, SandboxConfig
from ctrader_sdk.testing import connect_sandbox, sandbox_client

CLIENT_ID, SECRET = "sandbox-client", "sandbox-secret"
ACCOUNT = 100001
LIFETIME = 2.0  # seconds an access token lives in the short-lived sandboxes
MARGIN = 0.8  # the client renews this long before expiry


def sandbox_token(sb: Sandbox) -> Token:
    """The sandbox's current token pair, as the OAuth helper would hold it."""
    current = sb.tokens.current
    return Token(sb.access_token, sb.refresh_token, expires_at=current.expires_at / 1000)


def config(**changes: object) -> ClientConfig:
    return fast_config(token_refresh_margin=MARGIN, **changes)


async def login(client: Client, access_token: str) -> None:
    await client.application_auth(client_id=CLIENT_ID, client_secret=SECRET)
    await client.account_auth(ctid_trader_account_id=ACCOUNT, access_token=access_token)


async def spots_past(client: Client, spots: AsyncIterator[ProtoOASpotEvent], after_ms: float) -> int:
    """Read the stream until a spot stamped after ``after_ms`` arrives; return how many were read."""
    count = 0
    async for spot in spots:
        count += 1
        assert spot.timestamp is not None
        if spot.timestamp > after_ms:
            return count
    raise AssertionError("the spot stream ended")


async def read_steadily(client: Client, stop: asyncio.Event) -> int:
    """Send read requests for the account until ``stop``; every one must succeed."""
    done = 0
    while not stop.is_set():
        trader = await client.trader(ctid_trader_account_id=ACCOUNT)
        assert trader.trader.ctid_trader_account_id == ACCOUNT
        done += 1
        await asyncio.sleep(0.02)
    return done


def assert_private(path: Path) -> None:
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_in_protocol_provider_renews_before_expiry_and_the_stream_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with Sandbox(SandboxConfig(seed=7, access_token_lifetime=LIFETIME)) as sb:
        first = sandbox_token(sb)
        store = TokenStore(tmp_path / "token.json")
        client = sandbox_client(sb, config=config())
        provider = InProtocolTokenProvider(client, first, store=store)
        client.token_provider = provider
        assert "sandbox" not in repr(provider) and first.access_token not in repr(provider)
        async with client:
            refreshed = client.events(TokenRefreshed)
            await login(client, first.access_token)
            async with client.events(ProtoOASpotEvent, ctid_trader_account_id=ACCOUNT) as spots:
                await client.subscribe_spots(
                    ctid_trader_account_id=ACCOUNT, symbol_id=[1], subscribe_to_spot_timestamp=True
                )
                stop = asyncio.Event()
                reader = asyncio.ensure_future(read_steadily(client, stop))
                try:
                    # Past the first token's expiry and then past the second one's: two renewals.
                    read = await asyncio.wait_for(
                        spots_past(client, spots, first.expires_at * 1000 + LIFETIME * 1000), 10
                    )
                finally:
                    stop.set()
                    requests = await reader  # raises if any request failed
            assert read > 10 and requests > 10
            event = await refreshed.get(1)
            assert event.accounts == (ACCOUNT,) and event.errors == ()
            assert sb.stats.received(ProtoOARefreshTokenReq) >= 2
            # The server ended the sessions at each refresh: the subscription was made again each time.
            assert sb.stats.received(ProtoOASubscribeSpotsReq) >= 3
            held = provider.token
            assert held.access_token == sb.access_token != first.access_token
            assert client.token_expires_at == held.expires_at
            stored = store.load()
            assert stored is not None and stored.access_token == held.access_token
            assert_private(store.path)
        for secret in (first.access_token, first.refresh_token, held.access_token, held.refresh_token):
            assert secret not in caplog.text
        assert "re-authorised accounts" in caplog.text


class VendorTokenEndpoint:
    """The vendor's ``/apps/token`` refresh grant, issuing its tokens from the sandbox's registry."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.refreshes = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        if query.get("client_id") != CLIENT_ID or query.get("client_secret") != SECRET:
            return web.json_response({"errorCode": "ACCESS_DENIED", "description": "bad client"})
        if query.get("grant_type") != "refresh_token":
            return web.json_response({"errorCode": "INVALID_REQUEST", "description": "refresh only"})
        sb = self.sandbox
        refreshed = sb.tokens.refresh(query.get("refresh_token", ""), sb.now_ms())
        if refreshed is None:
            return web.json_response({"errorCode": "ACCESS_DENIED", "description": "Access denied"})
        old, new = refreshed
        # What the sandbox does for ProtoOARefreshTokenReq: arm the new token's expiry, end the old one's
        # sessions (the vendor invalidates them when a token is refreshed, whatever the channel).
        sb.token_issued(new)
        sb.end_token_sessions(old, ProtoOAErrorCode.CH_ACCESS_TOKEN_INVALID, "Access Token was refreshed")
        self.refreshes += 1
        return web.json_response(
            {
                "accessToken": new.access_token,
                "refreshToken": new.refresh_token,
                "expiresIn": sb.tokens.lifetime_ms // 1000,
                "tokenType": "bearer",
                "errorCode": None,
                "description": None,
            }
        )


@pytest.fixture
async def short_lived_sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(SandboxConfig(seed=11, access_token_lifetime=LIFETIME)) as sb:
        yield sb


@pytest.fixture
async def vendor(short_lived_sandbox: Sandbox) -> AsyncIterator[VendorTokenEndpoint]:
    endpoint = VendorTokenEndpoint(short_lived_sandbox)
    app = web.Application()
    app.router.add_get("/apps/token", endpoint.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log=None)
    endpoint.url = str(server.make_url("")).rstrip("/")
    try:
        yield endpoint
    finally:
        await server.close()


async def test_stored_provider_refreshes_over_http_and_stores_the_pair(
    short_lived_sandbox: Sandbox, vendor: VendorTokenEndpoint, tmp_path: Path
) -> None:
    sb = short_lived_sandbox
    first = sandbox_token(sb)
    store = TokenStore(tmp_path / "token.json")
    store.save(first)
    provider = StoredTokenProvider(
        OAuth(CLIENT_ID, SECRET, token_url=vendor.url), store, refresh_margin=MARGIN
    )
    async with connect_sandbox(sb, config=config()) as client:
        client.token_provider = provider
        refreshed = client.events(TokenRefreshed)
        await login(client, first.access_token)
        async with client.events(ProtoOASpotEvent, ctid_trader_account_id=ACCOUNT) as spots:
            await client.subscribe_spots(
                ctid_trader_account_id=ACCOUNT, symbol_id=[2], subscribe_to_spot_timestamp=True
            )
            stop = asyncio.Event()
            reader = asyncio.ensure_future(read_steadily(client, stop))
            try:
                await asyncio.wait_for(spots_past(client, spots, first.expires_at * 1000 + 500), 10)
            finally:
                stop.set()
                await reader
        event = await refreshed.get(1)
        assert event.accounts == (ACCOUNT,) and event.errors == ()
        assert vendor.refreshes >= 1
        stored = store.load()
        assert stored is not None and stored.access_token == sb.access_token != first.access_token
        assert stored.refresh_token == sb.refresh_token
        assert_private(store.path)


async def test_invalidation_from_another_connection_reauthorises_with_the_providers_token(
    tmp_path: Path,
) -> None:
    """Another program refreshes the shared token (and stores the new pair): the server ends this client's
    sessions, and the client re-authorises with the token its provider now gives, and keeps streaming."""
    async with Sandbox(SandboxConfig(seed=5)) as sb:
        first = sandbox_token(sb)
        store = TokenStore(tmp_path / "token.json")
        store.save(first)
        # Its refresh margin is never reached (the token lives a month): it only reads the shared file.
        provider = StoredTokenProvider(OAuth(CLIENT_ID, SECRET, token_url="http://127.0.0.1:9"), store)
        endpoint = Endpoint(sb.host, sb.port)
        async with (
            Client.connect(endpoint, ssl=False, config=fast_config(), token_provider=provider) as client,
            connect_sandbox(sb, config=fast_config()) as other,
        ):
            refreshed = client.events(TokenRefreshed)
            lifecycle = client.events(Reconnected)
            await login(client, first.access_token)
            async with client.events(ProtoOASpotEvent, ctid_trader_account_id=ACCOUNT) as spots:
                await client.subscribe_spots(
                    ctid_trader_account_id=ACCOUNT, symbol_id=[1], subscribe_to_spot_timestamp=True
                )
                await spots.get(5)

                await other.application_auth(client_id=CLIENT_ID, client_secret=SECRET)
                other_provider = InProtocolTokenProvider(other, first, store=store)
                new = await other_provider.refresh()
                with pytest.raises(ChAccessTokenInvalidError):  # the old token is spent for everyone
                    await other.account_auth(ctid_trader_account_id=ACCOUNT, access_token=first.access_token)

                event = await refreshed.get(5)
                assert event.accounts == (ACCOUNT,) and event.errors == ()
                marker = sb.now_ms()
                await asyncio.wait_for(spots_past(client, spots, marker), 5)  # same iterator, still fed

                # A reconnection now authorises with the new token and restores the subscription.
                await sb.faults.drop_connections()
                reconnected = await lifecycle.get(5)
                assert reconnected.errors == ()
                marker = sb.now_ms()
                await asyncio.wait_for(spots_past(client, spots, marker), 5)
            trader = await client.trader(ctid_trader_account_id=ACCOUNT)
            assert trader.trader.ctid_trader_account_id == ACCOUNT
            assert sb.access_token == new.access_token


async def test_without_provider_invalidated_accounts_are_dropped() -> None:
    async with Sandbox(SandboxConfig(seed=3)) as sb:
        first = sandbox_token(sb)
        async with connect_sandbox(sb, config=fast_config()) as client:
            assert client.token_provider is None
            invalidated = client.events(TokenRefreshed)
            await login(client, first.access_token)
            await client.refresh_token(refresh_token=first.refresh_token)
            await eventually(lambda: not client._session.accounts)
            assert invalidated.pending == 0
