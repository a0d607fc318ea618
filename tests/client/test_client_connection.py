"""Connection lifecycle against the fake server: open/close/reuse, TLS, heartbeats, dead connections,
reconnection with session restore, broken frames, and a clean close during activity."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import trustme
from client_support import FakeServer, Peer, eventually, fast_config

from ctrader_sdk import (
    Backoff,
    Client,
    ClientClosedError,
    Connected,
    CTraderConnectionError,
    CTraderTimeoutError,
    Disconnected,
    Endpoint,
    FrameTooLargeError,
    ProtocolError,
    RateLimits,
    Reconnected,
    ReconnectPolicy,
    encode_envelope,
    encode_frame,
)
from ctrader_sdk._transport import memory_pipe, resolve_ssl
from ctrader_sdk._wire import Message
from ctrader_sdk.errors import ChClientAuthFailureError
from ctrader_sdk.messages import (
    ProtoHeartbeatEvent,
    ProtoOAAccountAuthReq,
    ProtoOAAccountDisconnectEvent,
    ProtoOAApplicationAuthReq,
    ProtoOAErrorRes,
    ProtoOAExecutionEvent,
    ProtoOAExecutionType,
    ProtoOASpotEvent,
    ProtoOASubscribeDepthQuotesReq,
    ProtoOASubscribeLiveTrendbarReq,
    ProtoOASubscribeSpotsReq,
    ProtoOATrendbarPeriod,
    ProtoOAv1PnLChangeSubscribeReq,
    ProtoOAVersionReq,
    ProtoOAVersionRes,
)


def kinds(messages: list[Message]) -> list[str]:
    return [type(m).__name__ for m in messages]


async def session(client: Client) -> None:
    """Authorise two accounts and subscribe to one of everything."""
    await client.application_auth(client_id="cid", client_secret="secret")
    for account in (1, 2):
        await client.account_auth(ctid_trader_account_id=account, access_token=f"token-{account}")
    await client.subscribe_spots(ctid_trader_account_id=1, symbol_id=[1, 2], subscribe_to_spot_timestamp=True)
    await client.subscribe_spots(ctid_trader_account_id=1, symbol_id=[3])
    await client.subscribe_live_trendbar(
        ctid_trader_account_id=1, symbol_id=1, period=ProtoOATrendbarPeriod.M5
    )
    await client.subscribe_depth_quotes(ctid_trader_account_id=2, symbol_id=[4, 5])
    await client.v1_pnl_change_subscribe(ctid_trader_account_id=2)


# -- lifecycle ------------------------------------------------------------------------------------


async def test_connect_is_awaitable_and_a_context_manager(server: FakeServer) -> None:
    endpoint = Endpoint(server.host, server.port)
    client = await Client.connect(endpoint, ssl=False, config=fast_config())
    assert client.is_connected and client.state == "connected"
    await client.close()
    assert client.closed and client.state == "closed"
    async with Client.connect(endpoint, ssl=False, config=fast_config()) as client2:
        assert (await client2.version()).version == "fake-1"
    assert client2.closed


async def test_reuse_after_close_is_refused(client: Client) -> None:
    stream = client.events(ProtoOASpotEvent)
    await client.close()
    await client.close()  # idempotent
    with pytest.raises(ClientClosedError):
        await client.version()
    with pytest.raises(ClientClosedError, match="cannot be reopened"):
        await client.open()
    with pytest.raises(ClientClosedError):
        client.events(ProtoOASpotEvent)
    with pytest.raises(ClientClosedError):
        client.on(ProtoOASpotEvent, print)
    with pytest.raises(StopAsyncIteration):
        await stream.get(1)


async def test_not_open_and_double_open(make_client: Callable[..., Client]) -> None:
    client = make_client()
    with pytest.raises(ClientClosedError, match="not open"):
        await client.version()
    await client.open()
    with pytest.raises(RuntimeError, match="already open"):
        await client.open()


async def test_failed_first_connection_raises_and_may_be_retried(server: FakeServer) -> None:
    client = Client(Endpoint("127.0.0.1", 1), ssl=False, config=fast_config())
    with pytest.raises(CTraderConnectionError) as info:
        await client.open()
    assert isinstance(info.value, ConnectionError)
    assert client.state == "new"
    await client.close()


async def test_lifecycle_events(make_client: Callable[..., Client], server: FakeServer) -> None:
    client = make_client()
    lifecycle = client.events(Connected, Disconnected, Reconnected)
    await client.open()
    assert await lifecycle.get(1) == Connected(f"{server.host}:{server.port}")
    server.peer.drop()
    dropped = await lifecycle.get(5)
    assert isinstance(dropped, Disconnected) and dropped.will_reconnect
    assert isinstance(dropped.error, CTraderConnectionError)
    back = await lifecycle.get(5)
    assert isinstance(back, Reconnected) and back.attempts == 1 and back.errors == ()
    await client.close()
    assert await lifecycle.get(1) == Disconnected(None, will_reconnect=False)
    with pytest.raises(StopAsyncIteration):
        await lifecycle.get(1)


def test_ssl_option_resolution() -> None:
    context = resolve_ssl(True)
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert resolve_ssl(False) is None and resolve_ssl(None) is None
    own = ssl.create_default_context()
    assert resolve_ssl(own) is own
    with pytest.raises(TypeError):
        resolve_ssl("yes")  # type: ignore[arg-type]


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[FakeServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    async with FakeServer(ssl_context=context) as fake:
        yield fake


async def test_tls_with_a_trusting_context(tls_server: FakeServer, ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with Client.connect(
        Endpoint("127.0.0.1", tls_server.port), ssl=context, config=fast_config()
    ) as client:
        assert (await client.version()).version == "fake-1"


async def test_tls_is_verified_by_default_and_a_bad_certificate_is_not_retried(
    tls_server: FakeServer,
) -> None:
    client = Client(Endpoint("127.0.0.1", tls_server.port), config=fast_config())
    with pytest.raises(CTraderConnectionError) as info:
        await client.open()
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    await client.close()


# -- heartbeats and dead connections ----------------------------------------------------------------


async def test_heartbeat_sent_when_idle_only(make_client: Callable[..., Client], server: FakeServer) -> None:
    client = make_client(heartbeat_interval=0.05, receive_timeout=5.0)
    await client.open()
    await asyncio.sleep(0.35)
    idle_beats = len(server.received(ProtoHeartbeatEvent))
    assert 4 <= idle_beats <= 8
    for _ in range(15):  # busy: a request every 20 ms, so no heartbeat is needed
        await client.version()
        await asyncio.sleep(0.02)
    assert len(server.received(ProtoHeartbeatEvent)) - idle_beats <= 1


async def test_silent_server_is_probed_and_kept_when_it_answers(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client(heartbeat_interval=0.05, receive_timeout=0.3)
    await client.open()
    await asyncio.sleep(1.0)  # the server sends nothing by itself, but answers the probes
    assert len(server.peers) == 1 and client.is_connected
    probes = [msg_id for m, msg_id in server.peer.received if isinstance(m, ProtoOAVersionReq)]
    assert len(probes) >= 2
    assert all(msg_id and msg_id.startswith("probe-") for msg_id in probes)


async def test_connection_silent_past_the_deadline_is_replaced(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    del server.handlers[ProtoOAVersionReq]  # blackhole: nothing ever comes back
    client = make_client(heartbeat_interval=0.05, receive_timeout=0.3)
    lifecycle = client.events(Disconnected)
    await client.open()
    dropped = await lifecycle.get(3)
    assert "nothing received" in str(dropped.error)
    await server.wait_for_peers(2)
    await eventually(lambda: client.is_connected)


async def test_secrets_never_reach_the_logs(
    client: Client, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ctrader_sdk")
    await client.application_auth(client_id="cid", client_secret="S3CRET-value")
    await client.account_auth(ctid_trader_account_id=1, access_token="T0KEN-value")
    reconnected = client.events(Reconnected)
    server.peer.drop()
    await reconnected.get(5)
    assert "sent ProtoOAApplicationAuthReq" in caplog.text  # debug logging was on
    assert "S3CRET" not in caplog.text and "T0KEN" not in caplog.text


# -- reconnection ----------------------------------------------------------------------------------


async def test_reconnect_restores_auth_and_every_subscription(client: Client, server: FakeServer) -> None:
    await session(client)
    await client.unsubscribe_spots(ctid_trader_account_id=1, symbol_id=[2])
    first = server.peer
    first_count = len(first.received)
    reconnected = client.events(Reconnected)
    first.drop()
    event = await reconnected.get(5)
    assert event.attempts == 1 and event.errors == ()
    restored = [m for m, _ in server.peer.received]
    assert restored == [
        ProtoOAApplicationAuthReq(client_id="cid", client_secret="secret"),
        ProtoOAAccountAuthReq(ctid_trader_account_id=1, access_token="token-1"),
        ProtoOASubscribeSpotsReq(ctid_trader_account_id=1, symbol_id=[1], subscribe_to_spot_timestamp=True),
        ProtoOASubscribeSpotsReq(ctid_trader_account_id=1, symbol_id=[3]),
        ProtoOASubscribeLiveTrendbarReq(
            ctid_trader_account_id=1, symbol_id=1, period=ProtoOATrendbarPeriod.M5
        ),
        ProtoOAAccountAuthReq(ctid_trader_account_id=2, access_token="token-2"),
        ProtoOASubscribeDepthQuotesReq(ctid_trader_account_id=2, symbol_id=[4, 5]),
        ProtoOAv1PnLChangeSubscribeReq(ctid_trader_account_id=2),
    ]
    assert first_count == len(first.received)


async def test_in_flight_requests_fail_and_are_not_replayed(client: Client, server: FakeServer) -> None:
    del server.handlers[ProtoOAVersionReq]
    call = asyncio.ensure_future(client.version(timeout=None))
    await eventually(lambda: client.pending_requests == 1)
    server.peer.drop()
    with pytest.raises(CTraderConnectionError, match="connection was lost"):
        await call
    await server.wait_for_peers(2)
    await eventually(lambda: client.is_connected)
    assert server.peers[1].received == []  # nothing replayed
    assert client.pending_requests == 0


async def test_requests_made_while_reconnecting_wait_for_the_restored_session(
    client: Client, server: FakeServer
) -> None:
    await client.application_auth(client_id="cid", client_secret="secret")
    server.peer.drop()
    await eventually(lambda: not client.is_connected)
    assert client.state == "reconnecting"
    answer = await client.version()
    assert answer.version == "fake-1"
    assert kinds([m for m, _ in server.peer.received]) == ["ProtoOAApplicationAuthReq", "ProtoOAVersionReq"]


async def test_a_request_queued_behind_the_limiter_goes_on_the_next_connection(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client(rate_limits=RateLimits(ordinary_per_second=1, window=0.3))
    await client.open()
    await client.version()  # spends the only token for 0.3 s
    queued = asyncio.ensure_future(client.version())
    await asyncio.sleep(0.05)
    assert server.received(ProtoOAVersionReq) == [ProtoOAVersionReq()]  # still queued
    server.peer.drop()
    assert (await asyncio.wait_for(queued, 5)).version == "fake-1"  # not failed: it was never sent
    assert len(server.peers) == 2 and server.peer.received == [
        (ProtoOAVersionReq(), server.peer.received[0][1])
    ]


async def test_request_timeout_covers_waiting_for_a_reconnection(server: FakeServer) -> None:
    policy = ReconnectPolicy(backoff=Backoff(0.05, 0.05, jitter=0.0))
    lone = FakeServer()
    await lone.__aenter__()
    client = Client(Endpoint(lone.host, lone.port), ssl=False, config=fast_config(reconnect=policy))
    await client.open()
    await lone.__aexit__(None, None, None)  # gone; the client keeps trying
    await eventually(lambda: client.state == "reconnecting")
    with pytest.raises(CTraderTimeoutError, match="not reconnected"):
        await client.version(timeout=0.2)
    await client.close()
    assert client.state == "closed"


async def test_already_logged_in_counts_as_success_on_restore(client: Client, server: FakeServer) -> None:
    await session(client)
    server.handlers[ProtoOAAccountAuthReq] = lambda peer, r, msg_id: peer.send(
        ProtoOAErrorRes(error_code="ALREADY_LOGGED_IN", ctid_trader_account_id=r.ctid_trader_account_id),
        msg_id,
    )
    reconnected = client.events(Reconnected)
    server.peer.drop()
    event = await reconnected.get(5)
    assert event.errors == ()
    assert len([m for m, _ in server.peer.received if isinstance(m, ProtoOASubscribeSpotsReq)]) == 2


async def test_refused_account_is_reported_and_dropped_from_the_session(
    client: Client, server: FakeServer
) -> None:
    await session(client)

    def refuse_account_2(peer: Peer, request: Any, msg_id: str | None) -> None:
        if request.ctid_trader_account_id == 2:
            peer.send(ProtoOAErrorRes(error_code="CH_ACCESS_TOKEN_INVALID"), msg_id)
        else:
            peer.send(ProtoOAAccountAuthReq.RESPONSE_TYPE(ctid_trader_account_id=1), msg_id)

    server.handlers[ProtoOAAccountAuthReq] = refuse_account_2
    reconnected = client.events(Reconnected)
    server.peer.drop()
    event = await reconnected.get(5)
    assert [e.code for e in event.errors] == ["CH_ACCESS_TOKEN_INVALID"]
    second = kinds([m for m, _ in server.peer.received])
    assert "ProtoOASubscribeDepthQuotesReq" not in second and "ProtoOAv1PnLChangeSubscribeReq" not in second
    reconnected2 = client.events(Reconnected)
    server.peer.drop()  # account 2 is no longer part of the session
    await reconnected2.get(5)
    assert [
        m.ctid_trader_account_id for m, _ in server.peer.received if isinstance(m, ProtoOAAccountAuthReq)
    ] == [1]


async def test_account_ended_by_the_server_is_not_restored(client: Client, server: FakeServer) -> None:
    await session(client)
    server.peer.send(ProtoOAAccountDisconnectEvent(ctid_trader_account_id=1))
    async with client.events(ProtoOAAccountDisconnectEvent) as ended:
        server.peer.send(ProtoOAAccountDisconnectEvent(ctid_trader_account_id=1))
        await ended.get(1)
    reconnected = client.events(Reconnected)
    server.peer.drop()
    await reconnected.get(5)
    accounts = [
        m.ctid_trader_account_id for m, _ in server.peer.received if isinstance(m, ProtoOAAccountAuthReq)
    ]
    assert accounts == [2]


async def test_refused_application_auth_on_restore_closes_the_client(
    client: Client, server: FakeServer
) -> None:
    await client.application_auth(client_id="cid", client_secret="secret")
    spots = client.events(ProtoOASpotEvent)
    server.handlers[ProtoOAApplicationAuthReq] = lambda peer, r, msg_id: peer.send(
        ProtoOAErrorRes(error_code="CH_CLIENT_AUTH_FAILURE"), msg_id
    )
    server.peer.drop()
    with pytest.raises(CTraderConnectionError) as info:
        await spots.get(5)
    assert isinstance(info.value.__cause__, ChClientAuthFailureError)
    assert client.closed
    with pytest.raises(CTraderConnectionError):
        await client.version()
    assert len(server.peers) == 2  # a fatal refusal is not retried


async def test_reconnect_disabled_closes_on_drop(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client(reconnect=ReconnectPolicy(enabled=False))
    lifecycle = client.events(Disconnected)
    await client.open()
    server.peer.drop()
    first = await lifecycle.get(5)
    assert not first.will_reconnect
    await eventually(lambda: client.closed)
    with pytest.raises(CTraderConnectionError):
        await client.version()
    assert len(server.peers) == 1


async def test_reconnect_gives_up_after_max_attempts(server: FakeServer) -> None:
    from client_support import FAST_RECONNECT

    policy = ReconnectPolicy(backoff=FAST_RECONNECT.backoff, max_attempts=3)
    lone = FakeServer()
    await lone.__aenter__()
    client = Client(Endpoint(lone.host, lone.port), ssl=False, config=fast_config(reconnect=policy))
    await client.open()
    spots = client.events(ProtoOASpotEvent)
    await lone.__aexit__(None, None, None)  # the server is gone for good
    with pytest.raises(CTraderConnectionError, match="in 3 attempts"):
        await spots.get(5)
    assert client.closed
    await client.close()


async def test_trading_events_around_a_drop_are_all_delivered(client: Client, server: FakeServer) -> None:
    def fill(peer: Peer, request: Any, msg_id: str | None) -> None:
        for kind in (ProtoOAExecutionType.ORDER_ACCEPTED, ProtoOAExecutionType.ORDER_FILLED):
            peer.send(ProtoOAExecutionEvent(ctid_trader_account_id=1, execution_type=kind), msg_id)

    from ctrader_sdk.messages import ProtoOANewOrderReq, ProtoOAOrderType, ProtoOATradeSide

    server.handlers[ProtoOANewOrderReq] = fill
    order = {
        "ctid_trader_account_id": 1,
        "symbol_id": 1,
        "order_type": ProtoOAOrderType.MARKET,
        "trade_side": ProtoOATradeSide.BUY,
        "volume": 1000,
    }
    executions = client.events(ProtoOAExecutionEvent)
    reconnected = client.events(Reconnected)
    await client.new_order(**order)  # type: ignore[arg-type]
    server.peer.drop()
    await reconnected.get(5)
    await client.new_order(**order)  # type: ignore[arg-type]
    got = [(await executions.get(1)).execution_type for _ in range(4)]
    assert got == [ProtoOAExecutionType.ORDER_ACCEPTED, ProtoOAExecutionType.ORDER_FILLED] * 2
    assert executions.dropped == 0


async def test_refused_subscription_is_reported_and_not_restored_again(
    client: Client, server: FakeServer
) -> None:
    await session(client)
    server.handlers[ProtoOASubscribeDepthQuotesReq] = lambda peer, r, msg_id: peer.send(
        ProtoOAErrorRes(error_code="SYMBOL_NOT_FOUND"), msg_id
    )
    server.handlers[ProtoOASubscribeLiveTrendbarReq] = lambda peer, r, msg_id: peer.send(
        ProtoOAErrorRes(error_code="NOT_SUBSCRIBED_TO_SPOTS"), msg_id
    )
    reconnected = client.events(Reconnected)
    server.peer.drop()
    event = await reconnected.get(5)
    assert sorted(e.code for e in event.errors) == ["NOT_SUBSCRIBED_TO_SPOTS", "SYMBOL_NOT_FOUND"]
    server.peer.drop()
    assert (await reconnected.get(5)).errors == ()
    third = kinds([m for m, _ in server.peer.received])
    assert "ProtoOASubscribeDepthQuotesReq" not in third and "ProtoOASubscribeLiveTrendbarReq" not in third
    assert third.count("ProtoOASubscribeSpotsReq") == 2 and "ProtoOAv1PnLChangeSubscribeReq" in third


class FlakyStream:
    """A pipe end whose ``fail`` mode makes reads or writes raise, as a broken socket does."""

    def __init__(self, inner: Any, fail: str) -> None:
        self.inner = inner
        self.fail = fail

    async def read(self, max_bytes: int) -> bytes:
        data = await self.inner.read(max_bytes)
        if self.fail == "read":
            raise ConnectionResetError("reset while reading")
        return data  # type: ignore[no-any-return]

    def write(self, data: bytes) -> None:
        if self.fail == "write":
            raise BrokenPipeError("broken pipe")
        self.inner.write(data)

    async def drain(self) -> None:
        if self.fail == "drain":
            raise ConnectionResetError("reset while draining")

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("fail", ["write", "drain", "read"])
async def test_socket_errors_end_the_connection_and_the_client_recovers(fail: str) -> None:
    from ctrader_sdk import FrameDecoder, decode_envelope

    made: list[FlakyStream] = []
    servers: list[asyncio.Task[None]] = []

    async def serve(end: Any) -> None:
        decoder = FrameDecoder()
        while data := await end.read(65536):
            for body in decoder.feed(data):
                envelope = decode_envelope(body)
                if isinstance(envelope.message, ProtoOAVersionReq):
                    end.write(
                        encode_frame(encode_envelope(ProtoOAVersionRes(version="v"), envelope.client_msg_id))
                    )

    async def factory() -> Any:
        client_end, server_end = memory_pipe()
        servers.append(asyncio.ensure_future(serve(server_end)))
        stream = FlakyStream(client_end, fail if not made else "none")  # only the first one breaks
        made.append(stream)
        return stream

    client = Client(Endpoint("memory", 0), config=fast_config(), stream_factory=factory)
    lifecycle = client.events(Disconnected, Reconnected)
    async with client:
        with pytest.raises(CTraderConnectionError):
            await client.version()
        dropped = await lifecycle.get(5)
        assert isinstance(dropped, Disconnected) and isinstance(dropped.error, CTraderConnectionError)
        assert isinstance(dropped.error.__cause__, OSError)
        assert isinstance(await lifecycle.get(5), Reconnected)
        assert (await client.version()).version == "v"
    for task in servers:
        task.cancel()
    await asyncio.gather(*servers, return_exceptions=True)


async def test_stream_factory_failures(server: FakeServer) -> None:
    async def refuse() -> Any:
        raise ConnectionRefusedError("nobody home")

    async def hang() -> Any:
        await asyncio.sleep(60)

    refused = Client(Endpoint("x", 1), config=fast_config(), stream_factory=refuse)
    with pytest.raises(CTraderConnectionError, match="nobody home"):
        await refused.open()
    slow = Client(Endpoint("x", 1), config=fast_config(connect_timeout=0.05), stream_factory=hang)
    with pytest.raises(CTraderTimeoutError):
        await slow.open()
    with pytest.raises(TypeError, match="Endpoint"):
        Client(("x", 1))  # type: ignore[arg-type]


async def test_a_decoder_bug_is_a_protocol_error_not_a_hang(
    client: Client, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ctrader_sdk._client
    from ctrader_sdk import decode_envelope

    real = decode_envelope

    def broken(body: bytes) -> Any:
        if len(body) > 20:
            raise IndexError("decoder bug")
        return real(body)

    monkeypatch.setattr(ctrader_sdk._client, "decode_envelope", broken)
    lifecycle = client.events(Disconnected, Reconnected)
    server.peer.send(ProtoOAVersionRes(version="x" * 40))
    dropped = await lifecycle.get(5)
    assert isinstance(dropped, Disconnected)
    assert isinstance(dropped.error, ProtocolError) and isinstance(dropped.error.__cause__, IndexError)
    assert isinstance(await lifecycle.get(5), Reconnected)
    assert client.endpoint == Endpoint(server.host, server.port) and client.config.request_timeout == 5.0


# -- broken frames -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("send", "error_type", "text"),
    [
        (
            lambda peer: peer.send_raw(encode_frame(b"\xff\xff\xff\xff garbage")),
            ProtocolError,
            "cannot decode",
        ),
        (
            lambda peer: (peer.send_raw(b"\x00\x00\x01\x00abc"), peer.writer.close()),
            ProtocolError,
            "middle of a frame",
        ),
        (lambda peer: peer.send_raw((1 << 30).to_bytes(4, "big")), FrameTooLargeError, "exceeds the maximum"),
    ],
    ids=["garbage", "truncated", "oversize"],
)
async def test_broken_frames_are_protocol_errors_and_the_connection_recovers(
    client: Client,
    server: FakeServer,
    send: Callable[[Peer], object],
    error_type: type[Exception],
    text: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    lifecycle = client.events(Disconnected, Reconnected)
    send(server.peer)
    dropped = await lifecycle.get(5)
    assert isinstance(dropped, Disconnected)
    assert isinstance(dropped.error, error_type) and text in str(dropped.error)
    assert isinstance(await lifecycle.get(5), Reconnected)
    assert (await client.version()).version == "fake-1"
    assert "protocol error" in caplog.text


async def test_max_frame_size_is_configurable(make_client: Callable[..., Client], server: FakeServer) -> None:
    client = make_client(max_frame_size=64)
    lifecycle = client.events(Disconnected)
    await client.open()
    server.peer.send(ProtoOAVersionRes(version="x" * 100))
    assert isinstance((await lifecycle.get(5)).error, FrameTooLargeError)


# -- close during activity ---------------------------------------------------------------------------


async def test_close_during_activity_is_clean(client: Client, server: FakeServer) -> None:
    del server.handlers[ProtoOAVersionReq]
    await client.subscribe_spots(ctid_trader_account_id=1, symbol_id=[1])
    calls = [asyncio.ensure_future(client.version(timeout=None)) for _ in range(20)]
    got: list[ProtoOASpotEvent] = []

    async def consume() -> None:
        async for spot in client.events(ProtoOASpotEvent):
            got.append(spot)

    async def slow_callback(event: Any) -> None:
        await asyncio.sleep(60)

    consumer = asyncio.ensure_future(consume())
    client.on(ProtoOASpotEvent, slow_callback)
    await eventually(lambda: client.pending_requests == 20)
    for n in range(100):
        server.peer.send(ProtoOASpotEvent(ctid_trader_account_id=1, symbol_id=1, bid=n))
    await eventually(lambda: len(got) == 100)
    await client.close()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, ClientClosedError) for r in results)
    await asyncio.wait_for(consumer, 1)  # the iterator ended
    leftovers = [t for t in asyncio.all_tasks() if "ctrader" in repr(t) or "slow_callback" in repr(t)]
    assert leftovers == []
    assert client.pending_requests == 0


async def test_close_wakes_requests_queued_behind_the_limiter(
    make_client: Callable[..., Client], server: FakeServer
) -> None:
    client = make_client(rate_limits=RateLimits(ordinary_per_second=2, window=60.0))
    await client.open()
    await asyncio.gather(client.version(), client.version())  # the bucket is empty for a minute
    queued = [asyncio.ensure_future(client.version()) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert not any(call.done() for call in queued)
    await client.close()
    results = await asyncio.wait_for(asyncio.gather(*queued, return_exceptions=True), 1)
    assert all(isinstance(r, ClientClosedError) for r in results)
    assert len(server.received(ProtoOAVersionReq)) == 2
    assert [t for t in asyncio.all_tasks() if "acquire" in repr(t)] == []


async def test_unsubscribe_is_tracked(client: Client, server: FakeServer) -> None:
    await client.subscribe_spots(ctid_trader_account_id=1, symbol_id=[1, 2])
    await client.unsubscribe_spots(ctid_trader_account_id=1, symbol_id=[1, 2])
    reconnected = client.events(Reconnected)
    server.peer.drop()
    await reconnected.get(5)
    assert server.peer.received == []


# -- in-memory transport -----------------------------------------------------------------------------


async def test_client_over_an_in_memory_pipe() -> None:
    """The client runs over any Stream: here a pipe to a tiny echo-style server loop."""
    from ctrader_sdk import FrameDecoder, decode_envelope

    server_ends: list[Any] = []

    async def serve(end: Any) -> None:
        decoder = FrameDecoder()
        while data := await end.read(65536):
            for body in decoder.feed(data):
                envelope = decode_envelope(body)
                if isinstance(envelope.message, ProtoOAVersionReq):
                    end.write(
                        encode_frame(
                            encode_envelope(ProtoOAVersionRes(version="pipe"), envelope.client_msg_id)
                        )
                    )

    tasks: list[asyncio.Task[None]] = []

    async def factory() -> Any:
        client_end, server_end = memory_pipe()
        server_ends.append(server_end)
        tasks.append(asyncio.ensure_future(serve(server_end)))
        return client_end

    client = Client(Endpoint("memory", 0), config=fast_config(), stream_factory=factory)
    async with client:
        assert (await client.version()).version == "pipe"
        reconnected = client.events(Reconnected)
        await server_ends[0].aclose()  # the "server" hangs up
        await reconnected.get(5)
        assert (await client.version()).version == "pipe"
    for end in server_ends:
        await end.aclose()
    await asyncio.gather(*tasks)
    assert len(server_ends) == 2
