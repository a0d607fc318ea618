"""Endpoints, tunables and the client's frozen configuration.

Every number the client runtime depends on is a named constant here, with the source it comes from;
:class:`ClientConfig` groups them so a caller (or a test) changes one value with
``dataclasses.replace`` and keeps the rest::

    config = ClientConfig(request_timeout=5.0, rate_limits=RateLimits(ordinary_per_second=100))
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

from ctrader_sdk._framing import DEFAULT_MAX_FRAME_SIZE
from ctrader_sdk._generated.messages import (
    ProtoOACashFlowHistoryListReq,
    ProtoOADealListByPositionIdReq,
    ProtoOADealListReq,
    ProtoOADepthEvent,
    ProtoOAGetTickDataReq,
    ProtoOAGetTrendbarsReq,
    ProtoOAOrderListByPositionIdReq,
    ProtoOAOrderListReq,
    ProtoOASpotEvent,
)
from ctrader_sdk._wire import Message

__all__ = [
    "DEMO_HOST",
    "HISTORICAL_REQUESTS",
    "LIVE_HOST",
    "MARKET_DATA_EVENTS",
    "PORT",
    "THROTTLE_CODES",
    "Backoff",
    "ClientConfig",
    "Endpoint",
    "Endpoints",
    "RateLimits",
    "ReconnectPolicy",
    "RetryPolicy",
]

# ---------------------------------------------------------------------------------------------
# Endpoints

DEMO_HOST: Final = "demo.ctraderapi.com"  # Open API docs, "Proxies / endpoints"
LIVE_HOST: Final = "live.ctraderapi.com"  # Open API docs, "Proxies / endpoints"
PORT: Final = 5035  # Open API docs: 5035 speaks protobuf, 5036 JSON


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the client connects: a host name (checked against the TLS certificate) and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class Endpoints:
    """The vendor's two Open API proxies."""

    DEMO: Final = Endpoint(DEMO_HOST, PORT)
    """Demo accounts (``demo.ctraderapi.com:5035``)."""

    LIVE: Final = Endpoint(LIVE_HOST, PORT)
    """Live accounts (``live.ctraderapi.com:5035``)."""


# ---------------------------------------------------------------------------------------------
# Tunables

ORDINARY_PER_SECOND: Final = 50  # Open API docs: "50 requests per second per connection"
HISTORICAL_PER_SECOND: Final = 5  # Open API docs: "5 requests per second" for historical data
RATE_WINDOW: Final = 1.0  # the vendor counts requests per second
RATE_WINDOW_MARGIN: Final = 0.05  # ours: slack for network jitter between our clock and the server's

#: The historical-data class: each one spends a historical token *and* an ordinary token. The docs name
#: trendbars, ticks and deals; the order and cash-flow histories are answered from the same history
#: service and are counted with them.
HISTORICAL_REQUESTS: Final[frozenset[type[Message]]] = frozenset(
    {
        ProtoOAGetTrendbarsReq,
        ProtoOAGetTickDataReq,
        ProtoOADealListReq,
        ProtoOADealListByPositionIdReq,
        ProtoOAOrderListReq,
        ProtoOAOrderListByPositionIdReq,
        ProtoOACashFlowHistoryListReq,
    }
)

#: Error codes that mean "too fast, try later" (Open API docs, "Rate limiting": BLOCKED_PAYLOAD_TYPE with
#: retryAfter; REQUEST_FREQUENCY_EXCEEDED is the ProtoOAErrorCode for the same condition).
THROTTLE_CODES: Final[frozenset[str]] = frozenset({"BLOCKED_PAYLOAD_TYPE", "REQUEST_FREQUENCY_EXCEEDED"})

#: Event types that are market data: a stream of only these has a bounded buffer that drops the oldest
#: item when full (a newer quote supersedes an older one). Live trendbars arrive inside spot events.
MARKET_DATA_EVENTS: Final[frozenset[type[Message]]] = frozenset({ProtoOASpotEvent, ProtoOADepthEvent})

REQUEST_TIMEOUT: Final = 30.0  # ours: the vendor documents no answer time; history queries take seconds
CONNECT_TIMEOUT: Final = 10.0  # ours: TCP + TLS handshake to the proxy
HEARTBEAT_INTERVAL: Final = 9.0  # Open API docs: a heartbeat at least every 10 s when nothing else is sent
RECEIVE_TIMEOUT: Final = 30.0  # ProtoHeartbeatEvent docs: the proxy keeps a silent connection 30 s
EVENT_BUFFER_SIZE: Final = 10_000  # ours: ~10 s of a busy spot stream for one account
READ_CHUNK_SIZE: Final = 256 * 1024  # ours: large reads keep the receive loop tight
CLOSE_TIMEOUT: Final = 5.0  # ours: bound on the TLS close handshake before the socket is aborted
RECONNECT_INITIAL_DELAY: Final = 0.5  # ours, as websockets: first retry quickly, the drop may be a blip
RECONNECT_MAX_DELAY: Final = 30.0  # ours: the proxy restarts within seconds; 30 s keeps load low when down
RETRY_MAX_ATTEMPTS: Final = 5  # ours, as anthropic-sdk's default of a few attempts
RETRY_INITIAL_DELAY: Final = 0.25  # ours: the vendor's retryAfter is whole seconds, often 0 or 1
RETRY_MAX_DELAY: Final = 8.0  # ours, as anthropic-sdk's MAX_RETRY_DELAY
RETRY_MAX_HINT: Final = 60.0  # ours, as anthropic-sdk: a longer retryAfter is raised, not slept on
TOKEN_REFRESH_MARGIN: Final = 300.0  # ours: tokens live ~30 days; 5 min leaves room for a slow refresh


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with jitter.

    Attempt ``n`` (from 1) waits ``min(initial * factor**(n-1), maximum)`` reduced by up to ``jitter``
    of itself at random ("full jitter" when ``jitter`` is 1), so many clients dropped at once do not
    come back in lockstep.

    Attributes:
        initial: delay before the first retry, in seconds.
        maximum: cap on the delay, in seconds.
        factor: growth per attempt.
        jitter: fraction of the delay that is randomised, between 0 and 1.
    """

    initial: float
    maximum: float
    factor: float = 2.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if not 0 <= self.initial <= self.maximum:
            raise ValueError("Backoff needs 0 <= initial <= maximum")
        if self.factor < 1:
            raise ValueError("Backoff.factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("Backoff.jitter must be between 0 and 1")

    def delay(self, attempt: int, *, rng: random.Random | None = None) -> float:
        """The wait before retry number ``attempt`` (1 for the first retry), in seconds."""
        base = min(self.initial * self.factor ** max(attempt - 1, 0), self.maximum)
        draw = (rng or random).random()
        return base * (1.0 - self.jitter * draw)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Client-side request rate limits (see :mod:`ctrader_sdk._ratelimit`).

    Attributes:
        ordinary_per_second: requests of any kind per second (heartbeats are not requests).
        historical_per_second: historical-data requests per second; each also counts as ordinary.
        historical_requests: the request classes in the historical class.
        window: the length of the counting window, in seconds; slightly above one second, so jitter
            between our clock and the server's never makes the server see one request too many.
        enabled: False sends without client-side limiting (the server's BLOCKED answers still retry).
    """

    ordinary_per_second: int = ORDINARY_PER_SECOND
    historical_per_second: int = HISTORICAL_PER_SECOND
    historical_requests: frozenset[type[Message]] = HISTORICAL_REQUESTS
    window: float = RATE_WINDOW + RATE_WINDOW_MARGIN
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.ordinary_per_second < 1 or self.historical_per_second < 1:
            raise ValueError("rate limits must be at least 1 per second")
        if self.window <= 0:
            raise ValueError("RateLimits.window must be positive")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Automatic retries of read requests the server throttled (``BLOCKED_PAYLOAD_TYPE``).

    Attributes:
        max_attempts: total attempts per request, the first included (1 disables retries).
        backoff: the wait when the server gives no ``retryAfter`` or one shorter than the backoff.
        max_hint: a ``retryAfter`` longer than this (seconds) is not waited on: the error is raised.
    """

    max_attempts: int = RETRY_MAX_ATTEMPTS
    backoff: Backoff = field(default_factory=lambda: Backoff(RETRY_INITIAL_DELAY, RETRY_MAX_DELAY))
    max_hint: float = RETRY_MAX_HINT

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """What the client does when the connection drops.

    Attributes:
        enabled: reconnect and restore the session automatically; when False a drop closes the client.
        backoff: the wait before each connection attempt.
        max_attempts: attempts before the client gives up and closes; ``None`` tries forever.
    """

    enabled: bool = True
    backoff: Backoff = field(
        default_factory=lambda: Backoff(RECONNECT_INITIAL_DELAY, RECONNECT_MAX_DELAY, jitter=0.5)
    )
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("ReconnectPolicy.max_attempts must be at least 1 or None")


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Everything tunable about a :class:`~ctrader_sdk.Client`.

    Attributes:
        request_timeout: default seconds to wait for an answer (a request's ``timeout=`` overrides it;
            ``None`` waits forever).
        connect_timeout: seconds for TCP connect plus TLS handshake.
        heartbeat_interval: a heartbeat is sent when nothing was sent for this long (keep it below 10 s).
        receive_timeout: a connection on which nothing arrived for this long is dead and is replaced.
        max_frame_size: largest frame accepted from the server; a larger one is a protocol error.
        event_buffer_size: default buffer of a market-data stream (oldest dropped when full).
        read_chunk_size: bytes asked of the socket per read.
        rate_limits: client-side rate limiting.
        retry: automatic retries of throttled read requests.
        reconnect: automatic reconnection.
        token_refresh_margin: with a token provider (``Client(token_provider=...)``), seconds before the
            access token expires at which the client asks the provider for a new one and re-authorises
            its accounts with it.
    """

    request_timeout: float | None = REQUEST_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT
    heartbeat_interval: float = HEARTBEAT_INTERVAL
    receive_timeout: float = RECEIVE_TIMEOUT
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    event_buffer_size: int = EVENT_BUFFER_SIZE
    read_chunk_size: int = READ_CHUNK_SIZE
    rate_limits: RateLimits = field(default_factory=RateLimits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    token_refresh_margin: float = TOKEN_REFRESH_MARGIN

    def __post_init__(self) -> None:
        if not self.token_refresh_margin >= 0:  # also refuses NaN
            raise ValueError("ClientConfig.token_refresh_margin must not be negative")
        if self.request_timeout is not None and self.request_timeout <= 0:
            raise ValueError("ClientConfig.request_timeout must be positive or None")
        for name in ("connect_timeout", "heartbeat_interval", "receive_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ClientConfig.{name} must be positive")
        if self.receive_timeout <= self.heartbeat_interval:
            raise ValueError("ClientConfig.receive_timeout must be longer than heartbeat_interval")
        if self.max_frame_size <= 0 or self.event_buffer_size <= 0 or self.read_chunk_size <= 0:
            raise ValueError("ClientConfig sizes must be positive")
