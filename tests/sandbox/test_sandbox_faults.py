"""Rate limits, fault injection and counters."""

from __future__ import annotations

import asyncio

from ctrader_sdk._exceptions import DecodeError, FrameTooLargeError
from ctrader_sdk.messages import (
    ProtoHeartbeatEvent,
    ProtoOAErrorRes,
    ProtoOAGetTrendbarsReq,
    ProtoOAGetTrendbarsRes,
    ProtoOASpotEvent,
    ProtoOASubscribeSpotsReq,
    ProtoOASubscribeSpotsRes,
    ProtoOASymbolsListReq,
    ProtoOATraderReq,
    ProtoOATraderRes,
    ProtoOATrendbarPeriod,
    ProtoOAVersionReq,
    ProtoOAVersionRes,
)
from ctrader_sdk.sandbox import Sandbox

from .conftest import DEMO, EURUSD, Connect, MakeSandbox, RawClient


async def burst(client: RawClient, requests: list[object]) -> list[object]:
    """Send every request in one write; return their answers in order."""
    ids = [f"b{i}" for i in range(len(requests))]
    for client_msg_id, request in zip(ids, requests, strict=True):
        client.send(request, client_msg_id)  # type: ignore[arg-type]
    return [await client.answer(i) for i in ids]


async def test_rate_limit_blocks_with_retry_after(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox)
    answers = await burst(client, [ProtoOAVersionReq() for _ in range(55)])
    assert all(isinstance(a, ProtoOAVersionRes) for a in answers[:50])
    blocked = answers[50:]
    assert all(isinstance(a, ProtoOAErrorRes) and a.error_code == "BLOCKED_PAYLOAD_TYPE" for a in blocked)
    assert all(a.retry_after is not None and a.retry_after >= 1 and a.description for a in blocked)  # type: ignore[attr-defined]
    assert sandbox.stats.blocked_answers == 5
    assert sandbox.stats.received(ProtoOAVersionReq) == 55
    await asyncio.sleep(1.05)  # the one-second window has passed
    await client.ok(ProtoOAVersionReq(), ProtoOAVersionRes)


async def test_historical_requests_have_their_own_limit(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    request = ProtoOAGetTrendbarsReq(
        ctid_trader_account_id=DEMO, period=ProtoOATrendbarPeriod.M1, symbol_id=EURUSD, count=2
    )
    answers = await burst(client, [request] * 6 + [ProtoOATraderReq(ctid_trader_account_id=DEMO)])
    assert [type(a).__name__ for a in answers] == ["ProtoOAGetTrendbarsRes"] * 5 + [
        "ProtoOAErrorRes",
        "ProtoOATraderRes",
    ]
    blocked = answers[5]
    assert isinstance(blocked, ProtoOAErrorRes) and blocked.error_code == "BLOCKED_PAYLOAD_TYPE"
    assert blocked.retry_after == 1


async def test_rate_limits_and_historical_class_are_configurable(
    make_sandbox: MakeSandbox, connect: Connect
) -> None:
    sb = await make_sandbox(
        rate_limit_per_second=8,
        historical_rate_limit_per_second=1,
        historical_payload_types=frozenset({ProtoOASymbolsListReq.PAYLOAD_TYPE}),
    )
    client = await connect(sb, login=(DEMO,))
    answers = await burst(
        client, [ProtoOASymbolsListReq(ctid_trader_account_id=DEMO)] * 2 + [ProtoOAVersionReq()] * 6
    )
    kinds = [a.error_code if isinstance(a, ProtoOAErrorRes) else type(a).__name__ for a in answers]
    # 2 logins + 1 symbols list + 5 versions fill the 8/s budget; the second list is historical-blocked.
    assert kinds == ["ProtoOASymbolsListRes", "BLOCKED_PAYLOAD_TYPE"] + ["ProtoOAVersionRes"] * 5 + [
        "BLOCKED_PAYLOAD_TYPE"
    ]


async def test_drop_connections(sandbox: Sandbox, connect: Connect) -> None:
    clients = [await connect(sandbox, login=(DEMO,)) for _ in range(3)]
    assert sandbox.stats.connections == 3
    assert await sandbox.faults.drop_connections() == 3
    for client in clients:
        await asyncio.wait_for(client.eof.wait(), 3)
    assert sandbox.stats.connections == 0 and sandbox.stats.connections_total == 3
    again = await connect(sandbox, login=(DEMO,))  # the sandbox keeps serving
    await again.ok(ProtoOATraderReq(ctid_trader_account_id=DEMO), ProtoOATraderRes)


async def test_drop_after_frames(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    sandbox.faults.drop_after_frames(2)
    for i in range(3):
        client.send(ProtoOAVersionReq(), f"v{i}")
    await asyncio.wait_for(client.eof.wait(), 3)
    assert [e.client_msg_id for e in client.inbox] == ["v0", "v1"]
    second = await connect(sandbox, login=(DEMO,))  # disarmed after one drop
    await second.ok(ProtoOATraderReq(ctid_trader_account_id=DEMO), ProtoOATraderRes)


async def test_delay_answers_but_not_events(make_sandbox: MakeSandbox, connect: Connect) -> None:
    sb = await make_sandbox(heartbeat_interval=0.05)
    client = await connect(sb, login=(DEMO,))
    sb.faults.delay_answers(0.4)
    loop = asyncio.get_running_loop()
    started = loop.time()
    client.send(ProtoOAVersionReq(), "slow")
    await client.event(ProtoHeartbeatEvent, timeout=0.3)  # events keep flowing meanwhile
    assert not [e for e in client.inbox if e.client_msg_id == "slow"]
    await client.answer("slow", timeout=2)
    assert loop.time() - started >= 0.35
    sb.faults.delay_answers(0)
    started = loop.time()
    await client.ok(ProtoOAVersionReq(), ProtoOAVersionRes)
    assert loop.time() - started < 0.3


async def test_garbage_frames(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox)
    assert await sandbox.faults.send_garbage() == 1
    await asyncio.wait_for(client.eof.wait(), 3)
    assert isinstance(client.failure, DecodeError)


async def test_oversize_frame_header(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox)
    assert await sandbox.faults.send_oversize(64 * 1024 * 1024) == 1
    await asyncio.wait_for(client.eof.wait(), 3)
    assert isinstance(client.failure, FrameTooLargeError)


async def test_blackhole_reads_but_never_answers(make_sandbox: MakeSandbox, connect: Connect) -> None:
    sb = await make_sandbox(heartbeat_interval=0.1)
    client = await connect(sb, login=(DEMO,))
    await client.ok(
        ProtoOASubscribeSpotsReq(ctid_trader_account_id=DEMO, symbol_id=[EURUSD]), ProtoOASubscribeSpotsRes
    )
    sb.faults.blackhole(True)
    await asyncio.sleep(0.15)  # let anything already in flight arrive
    client.inbox.clear()
    client.send(ProtoOAVersionReq(), "lost")
    await asyncio.sleep(0.5)
    assert client.inbox == [] and not client.eof.is_set()  # no answer, no heartbeat, no spots
    assert sb.stats.received(ProtoOAVersionReq) == 1
    sb.faults.blackhole(False)
    await client.ok(ProtoOAVersionReq(), ProtoOAVersionRes)
    await client.event(ProtoOASpotEvent, timeout=3)
    assert not [e for e in client.inbox if e.client_msg_id == "lost"]


async def test_reset_turns_every_fault_off(sandbox: Sandbox, connect: Connect) -> None:
    sandbox.faults.blackhole(True)
    sandbox.faults.delay_answers(5)
    sandbox.faults.drop_after_frames(1)
    sandbox.faults.reset()
    assert (sandbox.faults.blackholed, sandbox.faults.answer_delay) == (False, 0.0)
    client = await connect(sandbox, login=(DEMO,))
    await client.ok(
        ProtoOAGetTrendbarsReq(
            ctid_trader_account_id=DEMO, period=ProtoOATrendbarPeriod.M1, symbol_id=EURUSD, count=1
        ),
        ProtoOAGetTrendbarsRes,
    )
    assert sandbox.stats.sent(ProtoOAGetTrendbarsRes) == 1
