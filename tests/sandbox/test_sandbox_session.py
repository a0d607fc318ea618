"""Sessions: application and account authentication, tokens, logout, TLS, heartbeats, bad frames."""

from __future__ import annotations

import asyncio
import logging
import ssl

import pytest

from ctrader_sdk._framing import encode_frame
from ctrader_sdk.messages import (
    ProtoErrorRes,
    ProtoHeartbeatEvent,
    ProtoMessage,
    ProtoOAAccountAuthReq,
    ProtoOAAccountAuthRes,
    ProtoOAAccountDisconnectEvent,
    ProtoOAAccountLogoutReq,
    ProtoOAAccountLogoutRes,
    ProtoOAAccountsTokenInvalidatedEvent,
    ProtoOAApplicationAuthReq,
    ProtoOAApplicationAuthRes,
    ProtoOAClientPermissionScope,
    ProtoOAGetAccountListByAccessTokenReq,
    ProtoOAGetAccountListByAccessTokenRes,
    ProtoOAGetCtidProfileByTokenReq,
    ProtoOAGetCtidProfileByTokenRes,
    ProtoOARefreshTokenReq,
    ProtoOARefreshTokenRes,
    ProtoOASymbolsListReq,
    ProtoOASymbolsListRes,
    ProtoOATraderReq,
    ProtoOATraderRes,
    ProtoOAv1PnLChangeSubscribeReq,
    ProtoOAVersionReq,
    ProtoOAVersionRes,
)
from ctrader_sdk.sandbox import Sandbox, SandboxConfig

from .conftest import ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, DEMO, DEMO_EUR, LIVE, Connect, MakeSandbox


async def test_application_auth_accepts_the_configured_credentials(
    sandbox: Sandbox, connect: Connect
) -> None:
    client = await connect(sandbox)
    await client.ok(
        ProtoOAApplicationAuthReq(client_id=CLIENT_ID, client_secret=CLIENT_SECRET), ProtoOAApplicationAuthRes
    )
    again = await client.error(ProtoOAApplicationAuthReq(client_id=CLIENT_ID, client_secret=CLIENT_SECRET))
    assert again.error_code == "CH_CLIENT_ALREADY_AUTHENTICATED"


@pytest.mark.parametrize(("client_id", "secret"), [(CLIENT_ID, "wrong"), ("someone-else", CLIENT_SECRET)])
async def test_application_auth_refuses_wrong_credentials(
    sandbox: Sandbox, connect: Connect, client_id: str, secret: str
) -> None:
    client = await connect(sandbox)
    answer = await client.error(ProtoOAApplicationAuthReq(client_id=client_id, client_secret=secret))
    assert answer.error_code == "CH_CLIENT_AUTH_FAILURE"
    # The connection stays usable: the right credentials work afterwards.
    await client.ok(
        ProtoOAApplicationAuthReq(client_id=CLIENT_ID, client_secret=CLIENT_SECRET), ProtoOAApplicationAuthRes
    )


async def test_requests_before_application_auth_are_refused(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox)
    answer = await client.error(ProtoOASymbolsListReq(ctid_trader_account_id=DEMO))
    assert answer.error_code == "CH_CLIENT_NOT_AUTHENTICATED"
    version = await client.ok(ProtoOAVersionReq(), ProtoOAVersionRes)
    assert version.version == "91"


async def test_account_list_and_profile_by_token(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=())
    accounts = await client.ok(
        ProtoOAGetAccountListByAccessTokenReq(access_token=ACCESS_TOKEN),
        ProtoOAGetAccountListByAccessTokenRes,
    )
    assert accounts.permission_scope == ProtoOAClientPermissionScope.SCOPE_TRADE
    listed = {a.ctid_trader_account_id: a for a in accounts.ctid_trader_account}
    assert set(listed) == {DEMO, DEMO_EUR, LIVE}
    assert listed[LIVE].is_live and not listed[DEMO].is_live
    assert listed[DEMO].trader_login == 5100001 and listed[DEMO].broker_title_short
    profile = await client.ok(
        ProtoOAGetCtidProfileByTokenReq(access_token=ACCESS_TOKEN), ProtoOAGetCtidProfileByTokenRes
    )
    assert profile.profile.user_id == sandbox.config.ctid_user_id
    bad = await client.error(ProtoOAGetAccountListByAccessTokenReq(access_token="not-a-token"))
    assert bad.error_code == "CH_ACCESS_TOKEN_INVALID"
    bad = await client.error(ProtoOAGetCtidProfileByTokenReq(access_token="not-a-token"))
    assert bad.error_code == "CH_ACCESS_TOKEN_INVALID"


async def test_account_auth_happy_and_error_paths(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=())
    ok = await client.ok(
        ProtoOAAccountAuthReq(ctid_trader_account_id=DEMO, access_token=ACCESS_TOKEN), ProtoOAAccountAuthRes
    )
    assert ok.ctid_trader_account_id == DEMO
    cases = [
        (DEMO, ACCESS_TOKEN, "ALREADY_LOGGED_IN"),
        (DEMO_EUR, "bad-token", "CH_ACCESS_TOKEN_INVALID"),
        (999999, ACCESS_TOKEN, "CH_CTID_TRADER_ACCOUNT_NOT_FOUND"),
        (LIVE, ACCESS_TOKEN, "CANT_ROUTE_REQUEST"),  # a live account on the demo host
    ]
    for account_id, token, code in cases:
        answer = await client.error(
            ProtoOAAccountAuthReq(ctid_trader_account_id=account_id, access_token=token)
        )
        assert (answer.error_code, answer.ctid_trader_account_id) == (code, account_id)
    not_authorised = await client.error(ProtoOATraderReq(ctid_trader_account_id=DEMO_EUR))
    assert not_authorised.error_code == "ACCOUNT_NOT_AUTHORIZED"


async def test_a_live_sandbox_authorises_live_accounts_only(
    make_sandbox: MakeSandbox, connect: Connect
) -> None:
    sb = await make_sandbox(live=True)
    client = await connect(sb, login=(LIVE,))
    trader = await client.ok(ProtoOATraderReq(ctid_trader_account_id=LIVE), ProtoOATraderRes)
    assert trader.trader.balance == 250_000 and trader.trader.money_digits == 2
    answer = await client.error(ProtoOAAccountAuthReq(ctid_trader_account_id=DEMO, access_token=ACCESS_TOKEN))
    assert answer.error_code == "CANT_ROUTE_REQUEST"


async def test_trader_reports_the_configured_account(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO, DEMO_EUR))
    usd = (await client.ok(ProtoOATraderReq(ctid_trader_account_id=DEMO), ProtoOATraderRes)).trader
    eur = (await client.ok(ProtoOATraderReq(ctid_trader_account_id=DEMO_EUR), ProtoOATraderRes)).trader
    assert (usd.balance, usd.leverage_in_cents, usd.deposit_asset_id, usd.trader_login) == (
        1_000_000,
        50_000,
        2,
        5100001,
    )
    assert (eur.balance, eur.leverage_in_cents, eur.deposit_asset_id) == (500_000, 10_000, 1)
    assert usd.registration_timestamp is not None and usd.registration_timestamp < sandbox.now_ms()


async def test_logout_answers_then_disconnects_the_account(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    res = await client.ok(ProtoOAAccountLogoutReq(ctid_trader_account_id=DEMO), ProtoOAAccountLogoutRes)
    assert res.ctid_trader_account_id == DEMO
    await client.event(ProtoOAAccountDisconnectEvent, ctid_trader_account_id=DEMO)
    answer = await client.error(ProtoOATraderReq(ctid_trader_account_id=DEMO))
    assert answer.error_code == "ACCOUNT_NOT_AUTHORIZED"
    await client.ok(
        ProtoOAAccountAuthReq(ctid_trader_account_id=DEMO, access_token=ACCESS_TOKEN), ProtoOAAccountAuthRes
    )


async def test_refresh_token_invalidates_the_old_access_token(sandbox: Sandbox, connect: Connect) -> None:
    first = await connect(sandbox, login=(DEMO, DEMO_EUR))
    second = await connect(sandbox, login=(DEMO,))
    refreshed = await first.ok(
        ProtoOARefreshTokenReq(refresh_token="sandbox-refresh"), ProtoOARefreshTokenRes
    )
    assert refreshed.token_type == "bearer"
    assert refreshed.expires_in == 2_628_000
    assert refreshed.access_token not in (ACCESS_TOKEN, "") and refreshed.refresh_token != "sandbox-refresh"
    assert (sandbox.access_token, sandbox.refresh_token) == (refreshed.access_token, refreshed.refresh_token)
    event = await first.event(ProtoOAAccountsTokenInvalidatedEvent)
    assert sorted(event.ctid_trader_account_ids) == [DEMO, DEMO_EUR]
    assert (await second.event(ProtoOAAccountsTokenInvalidatedEvent)).ctid_trader_account_ids == [DEMO]
    assert (
        await first.error(ProtoOATraderReq(ctid_trader_account_id=DEMO))
    ).error_code == "CH_ACCESS_TOKEN_INVALID"
    old = await first.error(ProtoOAAccountAuthReq(ctid_trader_account_id=DEMO, access_token=ACCESS_TOKEN))
    assert old.error_code == "CH_ACCESS_TOKEN_INVALID"
    spent = await first.error(ProtoOARefreshTokenReq(refresh_token="sandbox-refresh"))
    assert spent.error_code == "CH_ACCESS_TOKEN_INVALID"
    await first.ok(
        ProtoOAAccountAuthReq(ctid_trader_account_id=DEMO, access_token=refreshed.access_token),
        ProtoOAAccountAuthRes,
    )
    await first.ok(ProtoOATraderReq(ctid_trader_account_id=DEMO), ProtoOATraderRes)


async def test_access_tokens_expire_after_their_lifetime(make_sandbox: MakeSandbox, connect: Connect) -> None:
    sb = await make_sandbox(access_token_lifetime=0.6)
    client = await connect(sb, login=(DEMO,))
    await client.ok(ProtoOATraderReq(ctid_trader_account_id=DEMO), ProtoOATraderRes)
    event = await client.event(ProtoOAAccountsTokenInvalidatedEvent, timeout=3)
    assert event.ctid_trader_account_ids == [DEMO] and event.reason
    assert (
        await client.error(ProtoOATraderReq(ctid_trader_account_id=DEMO))
    ).error_code == "OA_AUTH_TOKEN_EXPIRED"
    again = await client.error(ProtoOAAccountAuthReq(ctid_trader_account_id=DEMO, access_token=ACCESS_TOKEN))
    assert again.error_code == "OA_AUTH_TOKEN_EXPIRED"
    listed = await client.error(ProtoOAGetAccountListByAccessTokenReq(access_token=ACCESS_TOKEN))
    assert listed.error_code == "CH_ACCESS_TOKEN_INVALID"


async def test_unknown_and_disabled_payload_types_are_unsupported(
    make_sandbox: MakeSandbox, connect: Connect
) -> None:
    sb = await make_sandbox(disabled_payload_types=frozenset({ProtoOAv1PnLChangeSubscribeReq.PAYLOAD_TYPE}))
    client = await connect(sb, login=(DEMO,))
    client.write_raw(encode_frame(ProtoMessage(payload_type=9999, payload=b"", client_msg_id="x").to_bytes()))
    unknown = await client.answer("x")
    assert isinstance(unknown, ProtoErrorRes) and unknown.error_code == "UNSUPPORTED_MESSAGE"
    disabled = await client.error(ProtoOAv1PnLChangeSubscribeReq(ctid_trader_account_id=DEMO))
    assert disabled.error_code == "UNSUPPORTED_MESSAGE"
    not_a_request = await client.error(ProtoOAApplicationAuthRes())
    assert not_a_request.error_code == "UNSUPPORTED_MESSAGE"


async def test_malformed_frames_are_answered_not_fatal(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    # A payload missing its required fields: the vendor's INVALID_REQUEST, echoing the id.
    body = ProtoMessage(
        payload_type=ProtoOATraderReq.PAYLOAD_TYPE, payload=b"", client_msg_id="bad"
    ).to_bytes()
    client.write_raw(encode_frame(body))
    answer = await client.answer("bad")
    assert answer.error_code == "INVALID_REQUEST" and "ctidTraderAccountId" in (answer.description or "")  # type: ignore[attr-defined]
    # A body that is not a ProtoMessage at all.
    client.write_raw(encode_frame(b"\x07nonsense"))
    envelope = await client.expect(lambda e: isinstance(e.message, ProtoErrorRes))
    assert envelope.message.error_code == "INVALID_REQUEST"  # type: ignore[union-attr]
    await client.ok(ProtoOATraderReq(ctid_trader_account_id=DEMO), ProtoOATraderRes)


async def test_an_oversize_frame_from_a_client_is_refused(
    make_sandbox: MakeSandbox, connect: Connect
) -> None:
    sb = await make_sandbox(max_frame_size=1024)
    client = await connect(sb)
    client.write_raw((1025).to_bytes(4, "big") + b"\x00" * 16)
    envelope = await client.expect(lambda e: isinstance(e.message, ProtoErrorRes))
    assert envelope.message.error_code == "FRAME_TOO_LONG"  # type: ignore[union-attr]
    await asyncio.wait_for(client.eof.wait(), 5)


async def test_heartbeats_when_idle_and_client_heartbeats_ignored(
    make_sandbox: MakeSandbox, connect: Connect
) -> None:
    sb = await make_sandbox(heartbeat_interval=0.2)
    client = await connect(sb)
    client.send(ProtoHeartbeatEvent())
    await client.event(ProtoHeartbeatEvent, timeout=2)
    await client.event(ProtoHeartbeatEvent, timeout=2)
    assert sb.stats.received(ProtoHeartbeatEvent) == 1
    assert not [e for e in client.inbox if not isinstance(e.message, ProtoHeartbeatEvent)]


async def test_idle_clients_are_disconnected_when_configured(
    make_sandbox: MakeSandbox, connect: Connect
) -> None:
    sb = await make_sandbox(idle_timeout=0.3)
    client = await connect(sb)
    await asyncio.wait_for(client.eof.wait(), 3)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_tls_with_a_verifying_context(make_sandbox: MakeSandbox, connect: Connect, host: str) -> None:
    sb = await make_sandbox(tls=True)
    context = sb.ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    client = await connect(sb, host=host, login=(DEMO,))
    await client.ok(ProtoOASymbolsListReq(ctid_trader_account_id=DEMO), ProtoOASymbolsListRes)
    assert sb.ca_pem is not None and sb.ca_pem.startswith("-----BEGIN CERTIFICATE-----")


async def test_tls_is_not_trusted_by_a_default_context(make_sandbox: MakeSandbox) -> None:
    sb = await make_sandbox(tls=True)
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.open_connection(sb.host, sb.port, ssl=ssl.create_default_context())


async def test_plain_sandbox_has_no_ssl_context(sandbox: Sandbox) -> None:
    with pytest.raises(RuntimeError, match="TLS"):
        sandbox.ssl_context()
    assert sandbox.ca_pem is None


async def test_secrets_stay_out_of_logs_and_reprs(
    make_sandbox: MakeSandbox, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ctrader_sdk.sandbox")
    config = SandboxConfig(
        client_secret="s3cr3t-client", access_token="s3cr3t-access", refresh_token="s3cr3t-refresh"
    )
    assert "s3cr3t" not in repr(config)
    sb = await make_sandbox(
        client_secret="s3cr3t-client", access_token="s3cr3t-access", refresh_token="s3cr3t-refresh"
    )
    client = await connect(sb)
    await client.ok(
        ProtoOAApplicationAuthReq(client_id=CLIENT_ID, client_secret="s3cr3t-client"),
        ProtoOAApplicationAuthRes,
    )
    await client.ok(
        ProtoOAAccountAuthReq(ctid_trader_account_id=DEMO, access_token="s3cr3t-access"),
        ProtoOAAccountAuthRes,
    )
    await client.ok(ProtoOARefreshTokenReq(refresh_token="s3cr3t-refresh"), ProtoOARefreshTokenRes)
    await client.close()
    await sb.stop()
    assert caplog.records, "the sandbox logs its lifecycle"
    assert "s3cr3t" not in caplog.text
    assert "s3cr3t" not in repr(sb) and "s3cr3t" not in repr(sb.tokens.current)


async def test_a_sandbox_starts_once_and_stops_idempotently() -> None:
    sb = Sandbox()
    with pytest.raises(RuntimeError, match="not started"):
        _ = sb.port
    await sb.start()
    with pytest.raises(RuntimeError, match="once"):
        await sb.start()
    await sb.stop()
    await sb.stop()


async def test_connect_pipe_serves_without_a_port(sandbox: Sandbox) -> None:
    from .conftest import RawClient

    reader, writer = await sandbox.connect_pipe()
    client = RawClient(reader, writer)
    try:
        await client.login(DEMO)
        await client.ok(ProtoOATraderReq(ctid_trader_account_id=DEMO), ProtoOATraderRes)
        assert sandbox.stats.connections == 1
    finally:
        await client.close()
