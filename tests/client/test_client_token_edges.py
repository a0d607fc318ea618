"""Edge cases of access token renewal against the scriptable fake server: a provider that fails, token
refusals of trading and read requests, closing during a renewal, and the in-protocol provider's
serialisation and repr."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from client_support import FakeServer, Peer, eventually

from ctrader_sdk import (
    Backoff,
    Client,
    ClientClosedError,
    InProtocolTokenProvider,
    OrderError,
    ReconnectPolicy,
    TokenRefreshed,
)
from ctrader_sdk.errors import ChAccessTokenInvalidError, OaAuthTokenExpiredError
from ctrader_sdk.messages import (
    ProtoOAAccountAuthReq,
    ProtoOAErrorRes,
    ProtoOANewOrderReq,
    ProtoOAOrderErrorEvent,
    ProtoOAOrderType,
    ProtoOARefreshTokenReq,
    ProtoOARefreshTokenRes,
    ProtoOATrader,
    ProtoOATraderReq,
    ProtoOATraderRes,
    ProtoOATradeSide,
)
from ctrader_sdk.oauth import Token

ACCOUNT = 1
APP_SECRET = "app-secret-value-123"
OLD_ACCESS, OLD_REFRESH = "old-access-secret-aaa", "old-refresh-secret-bbb"
NEW_ACCESS, NEW_REFRESH = "new-access-secret-ccc", "new-refresh-secret-ddd"
SECRETS = (APP_SECRET, OLD_ACCESS, OLD_REFRESH, NEW_ACCESS, NEW_REFRESH)


def token(access: str, refresh: str, expires_in: float = 3600.0) -> Token:
    return Token(access, refresh, expires_at=time.time() + expires_in)


class ScriptedProvider:
    """A token provider playing ``steps`` in turn (the last one for ever): a token is returned, an
    exception raised, a callable awaited (it returns the token)."""

    def __init__(self, *steps: Token | Exception | Callable[[], Any]) -> None:
        self.steps = steps
        self.calls = 0

    async def __call__(self) -> Token:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        if isinstance(step, Token):
            return step
        result = await step()
        assert isinstance(result, Token)
        return result


async def login(client: Client, provider: ScriptedProvider, access_token: str = OLD_ACCESS) -> None:
    """Authorise the application and the account, with ``provider`` as the client's token provider."""
    client.token_provider = provider
    await client.application_auth(client_id="cid", client_secret=APP_SECRET)
    await client.account_auth(ctid_trader_account_id=ACCOUNT, access_token=access_token)


async def settled(client: Client, provider: ScriptedProvider, calls: int = 1) -> None:
    """Wait until the keeper asked the provider ``calls`` times and learned the token's expiry."""
    await eventually(lambda: provider.calls >= calls and client.token_expires_at is not None)
    await asyncio.sleep(0.02)  # let the keeper finish its pass


def auths(server: FakeServer) -> list[str | None]:
    return [m.access_token for m in server.received(ProtoOAAccountAuthReq)]  # type: ignore[attr-defined]


def refuse_with(code: str) -> Callable[[Peer, Any, str | None], None]:
    def handle(peer: Peer, request: Any, msg_id: str | None) -> None:
        peer.send(ProtoOAErrorRes(ctid_trader_account_id=ACCOUNT, error_code=code, description="no"), msg_id)

    return handle


def trader_res() -> ProtoOATraderRes:
    return ProtoOATraderRes(
        ctid_trader_account_id=ACCOUNT,
        trader=ProtoOATrader(ctid_trader_account_id=ACCOUNT, balance=123_45, deposit_asset_id=1),
    )


def ctrader_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("ctrader") and not t.done()]


# -- (1) a provider that fails ----------------------------------------------------------------------


async def test_failing_provider_is_logged_without_secrets_and_retried_until_it_succeeds(
    make_client: Callable[..., Client], server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ctrader_sdk")
    client = make_client(token_refresh_margin=60.0)
    await client.open()
    provider = ScriptedProvider(
        RuntimeError("token endpoint unreachable"),
        RuntimeError("token endpoint unreachable"),
        token(NEW_ACCESS, NEW_REFRESH),
    )
    refreshed = client.events(TokenRefreshed)
    await login(client, provider)
    event = await refreshed.get(5)
    assert event.accounts == (ACCOUNT,) and event.errors == ()
    assert provider.calls == 3
    assert auths(server) == [OLD_ACCESS, NEW_ACCESS]
    failures = [r for r in caplog.records if "cannot renew the access token" in r.getMessage()]
    assert len(failures) == 2 and all(r.levelno == logging.ERROR for r in failures)
    assert "token endpoint unreachable" in failures[0].getMessage()
    for secret in SECRETS:
        assert secret not in caplog.text
    # The client stays usable, and later requests go out normally.
    assert (await client.version()).version == "fake-1"
    server.handlers[ProtoOATraderReq] = lambda peer, r, msg_id: peer.send(trader_res(), msg_id)
    assert (await client.trader(ctid_trader_account_id=ACCOUNT)).trader.balance == 123_45
    assert client.token_expires_at == pytest.approx(time.time() + 3600, abs=30)
    assert provider.calls == 3  # no more passes: the token is far from expiry


# -- (2) a trading request refused for the token ------------------------------------------------------


@pytest.mark.parametrize("answer", ["error_res", "order_error_event"])
async def test_trading_request_refused_for_the_token_is_not_resent_but_triggers_renewal(
    make_client: Callable[..., Client], server: FakeServer, answer: str
) -> None:
    client = make_client(token_refresh_margin=60.0)
    await client.open()
    provider = ScriptedProvider(token(OLD_ACCESS, OLD_REFRESH), token(NEW_ACCESS, NEW_REFRESH))
    await login(client, provider)
    await settled(client, provider)
    assert auths(server) == [OLD_ACCESS]  # the provider's first token is the one already in use

    def refuse(peer: Peer, request: Any, msg_id: str | None) -> None:
        if answer == "error_res":
            refuse_with("OA_AUTH_TOKEN_EXPIRED")(peer, request, msg_id)
        else:
            peer.send(
                ProtoOAOrderErrorEvent(ctid_trader_account_id=ACCOUNT, error_code="OA_AUTH_TOKEN_EXPIRED"),
                msg_id,
            )

    server.handlers[ProtoOANewOrderReq] = refuse
    refreshed = client.events(TokenRefreshed)
    with pytest.raises(OaAuthTokenExpiredError) as info:
        await client.new_order(
            ctid_trader_account_id=ACCOUNT,
            symbol_id=1,
            order_type=ProtoOAOrderType.MARKET,
            trade_side=ProtoOATradeSide.BUY,
            volume=100_000,
        )
    assert isinstance(info.value, OrderError) == (answer == "order_error_event")
    assert (await refreshed.get(5)).accounts == (ACCOUNT,)
    await asyncio.sleep(0.1)  # a re-sent order would have arrived by now
    assert len(server.received(ProtoOANewOrderReq)) == 1
    assert provider.calls == 2
    assert auths(server) == [OLD_ACCESS, NEW_ACCESS]
    kinds = [type(m).__name__ for m in server.received()]
    assert kinds.index("ProtoOANewOrderReq") < len(kinds) - 1 - kinds[::-1].index("ProtoOAAccountAuthReq")


# -- (3) a read request refused for the token ----------------------------------------------------------


async def test_read_request_refused_for_the_token_is_resent_once_after_reauthorisation(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client(token_refresh_margin=60.0)
    await client.open()
    provider = ScriptedProvider(token(OLD_ACCESS, OLD_REFRESH), token(NEW_ACCESS, NEW_REFRESH))
    await login(client, provider)
    await settled(client, provider)

    def refuse_first(peer: Peer, request: Any, msg_id: str | None) -> None:
        if len(server.received(ProtoOATraderReq)) == 1:
            refuse_with("CH_ACCESS_TOKEN_INVALID")(peer, request, msg_id)
        else:
            peer.send(trader_res(), msg_id)

    server.handlers[ProtoOATraderReq] = refuse_first
    result = await client.trader(ctid_trader_account_id=ACCOUNT)
    assert result.trader.balance == 123_45
    sent = [m for m in server.received() if isinstance(m, ProtoOATraderReq | ProtoOAAccountAuthReq)]
    assert [(type(m).__name__, getattr(m, "access_token", None)) for m in sent] == [
        ("ProtoOAAccountAuthReq", OLD_ACCESS),
        ("ProtoOATraderReq", None),
        ("ProtoOAAccountAuthReq", NEW_ACCESS),
        ("ProtoOATraderReq", None),
    ]
    assert provider.calls == 2


async def test_read_request_refused_again_after_reauthorisation_raises(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client(token_refresh_margin=60.0)
    await client.open()
    provider = ScriptedProvider(token(OLD_ACCESS, OLD_REFRESH), token(NEW_ACCESS, NEW_REFRESH))
    await login(client, provider)
    await settled(client, provider)
    server.handlers[ProtoOATraderReq] = refuse_with("CH_ACCESS_TOKEN_INVALID")
    with pytest.raises(ChAccessTokenInvalidError):
        await client.trader(ctid_trader_account_id=ACCOUNT)
    assert len(server.received(ProtoOATraderReq)) == 2  # sent again once, not more


# -- (4) closing during a renewal ------------------------------------------------------------------------


async def test_close_while_the_renewal_backs_off_leaves_no_task(
    make_client: Callable[..., Client], server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(reconnect=ReconnectPolicy(backoff=Backoff(30.0, 30.0)))
    await client.open()
    provider = ScriptedProvider(RuntimeError("token endpoint unreachable"))
    await login(client, provider)
    await eventually(lambda: any("cannot renew" in r.getMessage() for r in caplog.records))
    assert ctrader_tasks()
    started = time.monotonic()
    await client.close()
    assert time.monotonic() - started < 2.0  # the 30 s backoff was not waited for
    assert ctrader_tasks() == []
    assert provider.calls == 1


async def test_close_while_the_provider_is_pending_cancels_it_and_fails_the_waiting_read(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client(token_refresh_margin=60.0)
    await client.open()
    provider_cancelled = asyncio.Event()

    async def hang() -> Token:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            provider_cancelled.set()
            raise
        raise AssertionError("unreachable")

    provider = ScriptedProvider(token(OLD_ACCESS, OLD_REFRESH), hang)
    await login(client, provider)
    await settled(client, provider)
    server.handlers[ProtoOATraderReq] = refuse_with("CH_ACCESS_TOKEN_INVALID")
    read = asyncio.ensure_future(client.trader(ctid_trader_account_id=ACCOUNT))
    await eventually(lambda: provider.calls == 2)
    assert not read.done()  # waiting for the re-authorisation
    await client.close()
    with pytest.raises(ClientClosedError):
        await read
    assert provider_cancelled.is_set()
    assert ctrader_tasks() == []
    assert len(server.received(ProtoOATraderReq)) == 1


# -- (5) the in-protocol provider --------------------------------------------------------------------------


async def test_in_protocol_provider_hides_tokens_and_refreshes_once_for_concurrent_calls(
    client: Client, server: FakeServer
) -> None:
    async def answer_slowly(peer: Peer, request: Any, msg_id: str | None) -> None:
        await asyncio.sleep(0.05)  # both calls are in flight by the time the answer comes
        peer.send(
            ProtoOARefreshTokenRes(
                access_token=NEW_ACCESS, token_type="bearer", expires_in=3600, refresh_token=NEW_REFRESH
            ),
            msg_id,
        )

    server.handlers[ProtoOARefreshTokenReq] = answer_slowly
    await client.application_auth(client_id="cid", client_secret=APP_SECRET)
    provider = InProtocolTokenProvider(
        client, token(OLD_ACCESS, OLD_REFRESH, expires_in=10.0), refresh_margin=60.0
    )
    for secret in SECRETS:
        assert secret not in repr(provider)
    first, second = await asyncio.gather(provider(), provider())
    assert first == second and first.access_token == NEW_ACCESS and first.refresh_token == NEW_REFRESH
    assert first.expires_in == pytest.approx(3600, abs=30)
    refreshes = server.received(ProtoOARefreshTokenReq)
    assert [r.refresh_token for r in refreshes] == [OLD_REFRESH]  # type: ignore[attr-defined]
    assert provider.token == first
    for secret in SECRETS:
        assert secret not in repr(provider)
    assert await provider() == first  # fresh now: no further refresh
    assert len(server.received(ProtoOARefreshTokenReq)) == 1
