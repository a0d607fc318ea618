"""Requests against the scriptable fake server: correlation, timeouts, cancellation, typed errors,
retries of throttled reads, and trading requests answered by execution events."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from typing import Any

import pytest
from client_support import FakeServer, Peer, eventually

from ctrader_sdk import (
    Backoff,
    Client,
    CTraderTimeoutError,
    EncodeError,
    OrderError,
    RateLimits,
    RetryPolicy,
    ServerError,
)
from ctrader_sdk.errors import (
    BlockedPayloadTypeError,
    ChClientAuthFailureError,
    ChCtidTraderAccountNotFoundError,
    NotEnoughMoneyError,
    ServerIsUnderMaintenanceError,
)
from ctrader_sdk.messages import (
    ProtoErrorRes,
    ProtoOAAccountAuthReq,
    ProtoOAAccountAuthRes,
    ProtoOAApplicationAuthReq,
    ProtoOAErrorRes,
    ProtoOAExecutionEvent,
    ProtoOAExecutionType,
    ProtoOAGetTrendbarsReq,
    ProtoOAGetTrendbarsRes,
    ProtoOANewOrderReq,
    ProtoOAOrderErrorEvent,
    ProtoOAOrderType,
    ProtoOASpotEvent,
    ProtoOATradeSide,
    ProtoOATrendbarPeriod,
    ProtoOAVersionReq,
    ProtoOAVersionRes,
)


def refuse(code: str, **fields: Any) -> Callable[[Peer, Any, str | None], None]:
    def handle(peer: Peer, request: Any, msg_id: str | None) -> None:
        peer.send(ProtoOAErrorRes(error_code=code, description=f"refused: {code}", **fields), msg_id)

    return handle


async def test_version_round_trip(client: Client, server: FakeServer) -> None:
    answer = await client.version()
    assert answer == ProtoOAVersionRes(version="fake-1")
    [(request, msg_id)] = server.peer.received
    assert isinstance(request, ProtoOAVersionReq)
    assert msg_id
    assert client.pending_requests == 0


async def test_correlation_of_1000_concurrent_requests_answered_out_of_order(
    server: FakeServer, make_client: Callable[..., Client]
) -> None:
    """Each caller gets the answer to its own request, whatever the order of the answers.

    The client's limiter is raised to 2,000/s for this test (the fake server has no limit), so the
    1,000 requests leave at once; the server holds them all, then answers in a random order.
    """
    held: list[tuple[Peer, Any, str | None]] = []
    all_in = asyncio.Event()

    def hold(peer: Peer, request: Any, msg_id: str | None) -> None:
        held.append((peer, request, msg_id))
        if len(held) == 1000:
            all_in.set()

    server.handlers[ProtoOAAccountAuthReq] = hold
    client = make_client(rate_limits=RateLimits(ordinary_per_second=2000))
    await client.open()
    calls = [
        asyncio.ensure_future(client.account_auth(ctid_trader_account_id=n, access_token="t"))
        for n in range(1000)
    ]
    await asyncio.wait_for(all_in.wait(), 10)
    assert client.pending_requests == 1000
    assert len({msg_id for _, _, msg_id in held}) == 1000  # unique ids
    random.Random(3).shuffle(held)
    for peer, request, msg_id in held:
        peer.send(ProtoOAAccountAuthRes(ctid_trader_account_id=request.ctid_trader_account_id), msg_id)
    results = await asyncio.gather(*calls)
    assert [r.ctid_trader_account_id for r in results] == list(range(1000))
    assert client.pending_requests == 0


async def test_timeout_default_and_per_call_leave_nothing_pending(
    server: FakeServer, make_client: Callable[..., Client]
) -> None:
    del server.handlers[ProtoOAVersionReq]  # never answered
    client = make_client(request_timeout=0.05)
    await client.open()
    with pytest.raises(CTraderTimeoutError, match="ProtoOAVersionReq"):
        await client.version()  # the config's default timeout
    with pytest.raises(TimeoutError):  # the stdlib class catches it too
        await client.version(timeout=0.02)
    assert client.pending_requests == 0


async def test_timeout_none_waits_for_a_late_answer(client: Client, server: FakeServer) -> None:
    del server.handlers[ProtoOAVersionReq]
    call = asyncio.ensure_future(client.version(timeout=None))
    await eventually(lambda: len(server.received(ProtoOAVersionReq)) == 1)
    await asyncio.sleep(0.1)
    assert not call.done()
    assert client.pending_requests == 1
    [(_, msg_id)] = server.peer.received
    server.peer.send(ProtoOAVersionRes(version="late"), msg_id)
    assert (await asyncio.wait_for(call, 1)).version == "late"
    assert client.pending_requests == 0


async def test_cancelled_caller_leaves_nothing_pending_and_a_late_answer_is_ignored(
    client: Client, server: FakeServer
) -> None:
    del server.handlers[ProtoOAVersionReq]
    call = asyncio.ensure_future(client.version())
    await eventually(lambda: client.pending_requests == 1)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert client.pending_requests == 0
    [(_, msg_id)] = server.peer.received
    server.peer.send(ProtoOAVersionRes(version="too late"), msg_id)
    server.handlers[ProtoOAVersionReq] = lambda peer, r, i: peer.send(ProtoOAVersionRes(version="next"), i)
    assert (await client.version()).version == "next"
    assert client.is_connected


async def test_encode_error_sends_nothing(client: Client, server: FakeServer) -> None:
    request = ProtoOAAccountAuthReq(ctid_trader_account_id=1 << 70, access_token="t")  # out of int64 range
    with pytest.raises(EncodeError):
        await client.request(request)
    with pytest.raises(TypeError):
        await client.request(ProtoOAVersionRes(version="x"))  # type: ignore[arg-type]
    await client.request(ProtoOAVersionReq())
    assert [type(m) for m in server.received()] == [ProtoOAVersionReq]
    assert client.pending_requests == 0


@pytest.mark.parametrize(
    ("call", "code", "exc_type"),
    [
        (
            lambda c: c.application_auth(client_id="id", client_secret="wrong"),
            "CH_CLIENT_AUTH_FAILURE",
            ChClientAuthFailureError,
        ),
        (
            lambda c: c.account_auth(ctid_trader_account_id=999, access_token="t"),
            "CH_CTID_TRADER_ACCOUNT_NOT_FOUND",
            ChCtidTraderAccountNotFoundError,
        ),
        (lambda c: c.version(), "A_CODE_FROM_THE_FUTURE", ServerError),
    ],
)
async def test_error_answers_raise_typed_exceptions(
    client: Client, server: FakeServer, call: Callable[[Client], Any], code: str, exc_type: type[ServerError]
) -> None:
    for cls in (ProtoOAApplicationAuthReq, ProtoOAAccountAuthReq, ProtoOAVersionReq):
        server.handlers[cls] = refuse(code, ctid_trader_account_id=999)
    with pytest.raises(exc_type) as info:
        await call(client)
    assert type(info.value) is exc_type
    assert info.value.code == code
    assert info.value.description == f"refused: {code}"
    assert client.pending_requests == 0
    assert client.is_connected  # a refusal is not a connection problem


async def test_common_error_answer_carries_the_maintenance_end(client: Client, server: FakeServer) -> None:
    server.handlers[ProtoOAVersionReq] = lambda peer, r, msg_id: peer.send(
        ProtoErrorRes(error_code="SERVER_IS_UNDER_MAINTENANCE", maintenance_end_timestamp=1_900_000_000),
        msg_id,
    )
    with pytest.raises(ServerIsUnderMaintenanceError) as info:
        await client.version()
    assert info.value.maintenance_end_timestamp == 1_900_000_000


def new_order(client: Client) -> Any:
    return client.new_order(
        ctid_trader_account_id=1,
        symbol_id=1,
        order_type=ProtoOAOrderType.MARKET,
        trade_side=ProtoOATradeSide.BUY,
        volume=100_000,
    )


def execution(kind: ProtoOAExecutionType, tag: str) -> ProtoOAExecutionEvent:
    return ProtoOAExecutionEvent(ctid_trader_account_id=1, execution_type=kind, error_code=tag)


async def test_trading_request_returns_the_first_execution_event_and_streams_get_all(
    client: Client, server: FakeServer
) -> None:
    def fill(peer: Peer, request: Any, msg_id: str | None) -> None:
        peer.send(execution(ProtoOAExecutionType.ORDER_ACCEPTED, "accepted"), msg_id)
        peer.send(execution(ProtoOAExecutionType.ORDER_FILLED, "filled"), msg_id)
        peer.send(execution(ProtoOAExecutionType.ORDER_ACCEPTED, "protection"), msg_id)
        peer.send(execution(ProtoOAExecutionType.SWAP, "unrelated"))

    server.handlers[ProtoOANewOrderReq] = fill
    async with client.events(ProtoOAExecutionEvent) as executions:
        result = await new_order(client)
        assert result.execution_type is ProtoOAExecutionType.ORDER_ACCEPTED
        assert result.error_code == "accepted"
        tags = [(await executions.get(1)).error_code for _ in range(4)]
    assert tags == ["accepted", "filled", "protection", "unrelated"]


async def test_order_error_is_both_order_error_and_the_code_class_and_is_streamed(
    client: Client, server: FakeServer
) -> None:
    server.handlers[ProtoOANewOrderReq] = lambda peer, r, msg_id: peer.send(
        ProtoOAOrderErrorEvent(
            ctid_trader_account_id=1,
            error_code="NOT_ENOUGH_MONEY",
            order_id=11,
            position_id=12,
            description="poor",
        ),
        msg_id,
    )
    async with client.events(ProtoOAOrderErrorEvent) as errors:
        with pytest.raises(OrderError) as info:
            await new_order(client)
        assert (await errors.get(1)).order_id == 11
    assert isinstance(info.value, NotEnoughMoneyError)
    assert (info.value.order_id, info.value.position_id, info.value.description) == (11, 12, "poor")


async def test_a_correlated_event_that_is_not_the_answer_keeps_the_request_waiting(
    client: Client, server: FakeServer
) -> None:
    def answer_after_an_event(peer: Peer, request: Any, msg_id: str | None) -> None:
        peer.send(ProtoOASpotEvent(ctid_trader_account_id=1, symbol_id=1), msg_id)
        peer.send(ProtoOAVersionRes(version="v"), msg_id)

    server.handlers[ProtoOAVersionReq] = answer_after_an_event
    async with client.events(ProtoOASpotEvent) as spots:
        assert (await client.version()).version == "v"
        assert (await spots.get(1)).symbol_id == 1


def blocked_then_ok(
    times: int, retry_after: int | None
) -> tuple[Callable[[Peer, Any, str | None], None], list[float]]:
    stamps: list[float] = []

    def handle(peer: Peer, request: Any, msg_id: str | None) -> None:
        stamps.append(asyncio.get_running_loop().time())
        if len(stamps) <= times:
            peer.send(ProtoOAErrorRes(error_code="BLOCKED_PAYLOAD_TYPE", retry_after=retry_after), msg_id)
        elif isinstance(request, ProtoOAGetTrendbarsReq):
            peer.send(
                ProtoOAGetTrendbarsRes(
                    ctid_trader_account_id=1, period=request.period, symbol_id=request.symbol_id, timestamp=0
                ),
                msg_id,
            )

    return handle, stamps


def trendbars(client: Client) -> Any:
    return client.get_trendbars(
        ctid_trader_account_id=1,
        symbol_id=1,
        period=ProtoOATrendbarPeriod.M1,
        from_timestamp=0,
        to_timestamp=1,
    )


async def test_blocked_read_waits_retry_after_then_succeeds(
    server: FakeServer, make_client: Callable[..., Client]
) -> None:
    handler, stamps = blocked_then_ok(times=1, retry_after=1)
    server.handlers[ProtoOAGetTrendbarsReq] = handler
    client = make_client(retry=RetryPolicy(max_attempts=3, backoff=Backoff(0.01, 0.05)))
    await client.open()
    answer = await trendbars(client)
    assert answer.symbol_id == 1
    assert len(stamps) == 2
    assert stamps[1] - stamps[0] >= 0.95  # the server's retryAfter of 1 s was honoured


async def test_blocked_read_without_hint_backs_off_and_gives_up_after_max_attempts(
    server: FakeServer, make_client: Callable[..., Client]
) -> None:
    handler, stamps = blocked_then_ok(times=100, retry_after=None)
    server.handlers[ProtoOAGetTrendbarsReq] = handler
    client = make_client(retry=RetryPolicy(max_attempts=4, backoff=Backoff(0.02, 0.08, jitter=0.0)))
    await client.open()
    with pytest.raises(BlockedPayloadTypeError):
        await trendbars(client)
    assert len(stamps) == 4
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps[0] >= 0.02 and gaps[1] >= 0.04 and gaps[2] >= 0.08  # exponential backoff
    assert client.pending_requests == 0


async def test_blocked_trading_request_is_never_retried(server: FakeServer, client: Client) -> None:
    server.handlers[ProtoOANewOrderReq] = refuse("BLOCKED_PAYLOAD_TYPE", retry_after=0)
    with pytest.raises(BlockedPayloadTypeError):
        await new_order(client)
    await asyncio.sleep(0.2)
    assert len(server.received(ProtoOANewOrderReq)) == 1
