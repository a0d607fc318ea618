"""Unit tests of the client's policies and tables: config, backoff, retry rules, transient errors,
the rate limiter's bucket logic and the mapping of error answers to exceptions. No sockets here."""

from __future__ import annotations

import asyncio
import random
import ssl

import pytest

from ctrader_sdk import (
    Backoff,
    ClientConfig,
    CTraderConnectionError,
    CTraderTimeoutError,
    DecodeError,
    Endpoint,
    Endpoints,
    FrameTooLargeError,
    OrderError,
    RateLimits,
    ReconnectPolicy,
    RetryPolicy,
    ServerError,
)
from ctrader_sdk._client import is_retryable_request, is_throttled, is_transient, retry_delay
from ctrader_sdk._config import HISTORICAL_REQUESTS, MARKET_DATA_EVENTS
from ctrader_sdk._generated.registry import REQUESTS, TRADING_REQUESTS
from ctrader_sdk._ratelimit import RateLimiter, SlidingWindow
from ctrader_sdk._server_errors import order_error_class, server_error
from ctrader_sdk.errors import (
    BlockedPayloadTypeError,
    ChClientAuthFailureError,
    NotEnoughMoneyError,
    PositionNotFoundError,
    ServerIsUnderMaintenanceError,
)
from ctrader_sdk.messages import (
    ProtoErrorRes,
    ProtoOACashFlowHistoryListReq,
    ProtoOADealListByPositionIdReq,
    ProtoOADealListReq,
    ProtoOADepthEvent,
    ProtoOAErrorRes,
    ProtoOAGetTickDataReq,
    ProtoOAGetTrendbarsReq,
    ProtoOAOrderErrorEvent,
    ProtoOAOrderListByPositionIdReq,
    ProtoOAOrderListReq,
    ProtoOASpotEvent,
    ProtoOATrendbarPeriod,
    ProtoOAVersionReq,
    ProtoOAVersionRes,
)


def test_endpoints_are_the_vendor_proxies() -> None:
    assert Endpoints.DEMO == Endpoint("demo.ctraderapi.com", 5035)
    assert Endpoints.LIVE == Endpoint("live.ctraderapi.com", 5035)
    assert str(Endpoints.DEMO) == "demo.ctraderapi.com:5035"


def test_default_config_matches_the_vendor_limits() -> None:
    config = ClientConfig()
    assert config.rate_limits.ordinary_per_second == 50
    assert config.rate_limits.historical_per_second == 5
    assert config.heartbeat_interval < 10
    assert config.receive_timeout > config.heartbeat_interval
    assert config.reconnect.enabled


def test_historical_table_is_the_documented_one() -> None:
    assert {
        ProtoOAGetTrendbarsReq,
        ProtoOAGetTickDataReq,
        ProtoOADealListReq,
        ProtoOADealListByPositionIdReq,
        ProtoOAOrderListReq,
        ProtoOAOrderListByPositionIdReq,
        ProtoOACashFlowHistoryListReq,
    } == HISTORICAL_REQUESTS
    assert {ProtoOASpotEvent, ProtoOADepthEvent} == MARKET_DATA_EVENTS


@pytest.mark.parametrize(
    "make",
    [
        lambda: ClientConfig(request_timeout=0),
        lambda: ClientConfig(heartbeat_interval=10, receive_timeout=5),
        lambda: ClientConfig(max_frame_size=0),
        lambda: RateLimits(ordinary_per_second=0),
        lambda: RetryPolicy(max_attempts=0),
        lambda: ReconnectPolicy(max_attempts=0),
        lambda: Backoff(2.0, 1.0),
        lambda: Backoff(0.1, 1.0, jitter=2.0),
    ],
)
def test_invalid_config_is_refused(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]


def test_backoff_grows_to_its_cap_with_jitter_below_the_base() -> None:
    backoff = Backoff(0.5, 4.0, factor=2.0, jitter=0.5)
    rng = random.Random(7)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [backoff.delay(attempt, rng=rng) for _ in range(200)]
        assert all(base * 0.5 <= d <= base for d in delays)
        assert max(delays) - min(delays) > base * 0.3  # really jittered


POLICY = RetryPolicy(max_attempts=4, backoff=Backoff(0.5, 4.0, jitter=0.0), max_hint=30.0)


@pytest.mark.parametrize(
    ("retry_after", "attempt", "expected"),
    [
        (3, 1, 3.0),  # the server's hint comes first
        (None, 1, 0.5),  # no hint: backoff
        (None, 3, 2.0),  # backoff grows
        (0, 2, 1.0),  # a hint shorter than the backoff: backoff
        (31, 1, None),  # a hint above max_hint is not slept on
        (1, 4, None),  # attempts exhausted
    ],
)
def test_retry_delay(retry_after: int | None, attempt: int, expected: float | None) -> None:
    assert retry_delay(POLICY, retry_after, attempt) == expected


def test_trading_requests_are_never_retried_and_reads_are() -> None:
    for cls in REQUESTS:
        request = cls.__new__(cls)  # the predicate looks at the class only
        assert is_retryable_request(request) is (cls not in TRADING_REQUESTS), cls.__name__
    assert len(TRADING_REQUESTS) == 5


def test_throttle_detection() -> None:
    assert is_throttled(BlockedPayloadTypeError("BLOCKED_PAYLOAD_TYPE", retry_after=1))
    assert is_throttled(ServerError("REQUEST_FREQUENCY_EXCEEDED"))
    assert not is_throttled(NotEnoughMoneyError("NOT_ENOUGH_MONEY"))
    assert not is_throttled(CTraderTimeoutError("slow"))


def _cert_error() -> CTraderConnectionError:
    error = CTraderConnectionError("cannot connect")
    error.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    return error


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (CTraderConnectionError("reset"), True),
        (ConnectionRefusedError(), True),
        (CTraderTimeoutError("slow"), True),
        (DecodeError("garbage"), True),
        (FrameTooLargeError("huge"), True),
        (BlockedPayloadTypeError("BLOCKED_PAYLOAD_TYPE"), True),
        (ServerIsUnderMaintenanceError("SERVER_IS_UNDER_MAINTENANCE"), True),
        (ServerError("CONNECTIONS_LIMIT_EXCEEDED"), True),
        (ChClientAuthFailureError("CH_CLIENT_AUTH_FAILURE"), False),
        (ServerError("SOMETHING_NEW"), False),
        (ssl.SSLCertVerificationError("bad certificate"), False),
        (_cert_error(), False),
        (RuntimeError("bug"), False),
    ],
)
def test_is_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_error_answers_become_per_code_exceptions() -> None:
    blocked = server_error(
        ProtoOAErrorRes(error_code="BLOCKED_PAYLOAD_TYPE", description="slow down", retry_after=2)
    )
    assert isinstance(blocked, BlockedPayloadTypeError)
    assert (blocked.code, blocked.description, blocked.retry_after) == (
        "BLOCKED_PAYLOAD_TYPE",
        "slow down",
        2,
    )

    maintenance = server_error(
        ProtoErrorRes(error_code="SERVER_IS_UNDER_MAINTENANCE", maintenance_end_timestamp=1_900_000_000)
    )
    assert isinstance(maintenance, ServerIsUnderMaintenanceError)
    assert maintenance.maintenance_end_timestamp == 1_900_000_000

    unknown = server_error(ProtoOAErrorRes(error_code="BRAND_NEW_CODE", ctid_trader_account_id=7))
    assert type(unknown) is ServerError
    assert (unknown.code, unknown.ctid_trader_account_id) == ("BRAND_NEW_CODE", 7)

    assert server_error(ProtoOAVersionRes(version="1")) is None


def test_order_error_is_both_order_error_and_the_code_class() -> None:
    error = server_error(
        ProtoOAOrderErrorEvent(
            ctid_trader_account_id=1,
            error_code="POSITION_NOT_FOUND",
            order_id=5,
            position_id=6,
            description="gone",
        )
    )
    assert isinstance(error, OrderError)
    assert isinstance(error, PositionNotFoundError)
    assert (error.order_id, error.position_id, error.ctid_trader_account_id) == (5, 6, 1)
    assert error.CODE == "POSITION_NOT_FOUND"
    assert order_error_class("POSITION_NOT_FOUND") is type(error)  # cached: one class per code
    assert order_error_class("BRAND_NEW_CODE") is OrderError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_allows_limit_per_window_and_no_more() -> None:
    clock = FakeClock()
    window = SlidingWindow(3, 1.0, clock)
    for _ in range(3):
        assert window.delay(clock.now) == 0
        window.spend(clock.now)
    assert window.delay(clock.now) == pytest.approx(1.0)
    assert window.available == 0
    clock.now += 0.4
    assert window.delay(clock.now) == pytest.approx(0.6)
    clock.now += 0.6
    assert window.delay(clock.now) == 0
    assert window.available == 3
    window.spend(clock.now)
    assert window.available == 2


def test_limiter_historical_requests_spend_both_classes() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(ordinary_per_second=10, historical_per_second=2), clock)

    async def run() -> None:
        await limiter.acquire(
            ProtoOAGetTrendbarsReq(ctid_trader_account_id=1, period=ProtoOATrendbarPeriod.H1, symbol_id=1)
        )
        await limiter.acquire(ProtoOAVersionReq())

    asyncio.run(run())
    assert limiter._historical.available == 1
    assert limiter._ordinary.available == 8
    assert limiter.is_historical(
        ProtoOADealListReq(ctid_trader_account_id=1, from_timestamp=0, to_timestamp=1)
    )
    assert not limiter.is_historical(ProtoOAVersionReq())


async def test_limiter_paces_a_burst_to_the_limit() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(RateLimits(ordinary_per_second=20, window=0.2), loop.time)
    stamps: list[float] = []

    async def one() -> None:
        request = ProtoOAVersionReq()
        await limiter.acquire(request)
        stamps.append(loop.time())
        limiter.release(request)  # answered at once

    await asyncio.gather(*(one() for _ in range(60)))
    stamps.sort()
    # 20 per 0.2 s window: 60 need three windows, and no window ever holds more than 20.
    assert stamps[-1] - stamps[0] >= 0.39
    for i in range(len(stamps) - 20):
        assert stamps[i + 20] - stamps[i] >= 0.2 - 1e-6


async def test_a_token_returns_one_window_after_its_request_is_released() -> None:
    """The server counts a request when it processes it, at the latest when it answers: a token held
    by a request in flight comes back only one window after the answer, however slow the answer."""
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(RateLimits(ordinary_per_second=2, window=0.1), loop.time)
    first, second, third = ProtoOAVersionReq(), ProtoOAVersionReq(), ProtoOAVersionReq()
    await limiter.acquire(first)
    await limiter.acquire(second)
    queued = asyncio.ensure_future(limiter.acquire(third))
    await asyncio.sleep(0.3)  # three windows: still waiting, both requests are in flight
    assert not queued.done()
    answered = loop.time()
    limiter.release(first)
    await asyncio.wait_for(queued, 1)
    assert loop.time() - answered >= 0.1 - 1e-3
    assert limiter._ordinary.available == 0
    limiter.release(second)
    limiter.release(third)
    await asyncio.sleep(0.11)
    assert limiter._ordinary.available == 2


async def test_ordinary_requests_do_not_queue_behind_historical_ones() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(RateLimits(ordinary_per_second=50, historical_per_second=1, window=5.0), loop.time)
    bars = ProtoOAGetTrendbarsReq(ctid_trader_account_id=1, period=ProtoOATrendbarPeriod.H1, symbol_id=1)
    await limiter.acquire(bars)
    queued = asyncio.ensure_future(limiter.acquire(bars))  # waits ~5 s for the historical token
    await asyncio.sleep(0.01)
    started = loop.time()
    await limiter.acquire(ProtoOAVersionReq())
    assert loop.time() - started < 0.05
    queued.cancel()
    await asyncio.gather(queued, return_exceptions=True)
    assert limiter._historical.available == 0  # the cancelled waiter spent nothing more


async def test_disabled_limiter_never_waits() -> None:
    limiter = RateLimiter(RateLimits(ordinary_per_second=1, enabled=False))
    for _ in range(100):
        await limiter.acquire(ProtoOAVersionReq())
    assert limiter.try_acquire(
        ProtoOAGetTrendbarsReq(ctid_trader_account_id=1, period=ProtoOATrendbarPeriod.H1, symbol_id=1)
    )
