"""Configuration of the sandbox: frozen dataclasses with a default for everything.

The defaults mirror the vendor's documented limits (see ``../shared/design.md``): 50 requests/s per
connection, 5/s for historical data, access tokens living 2,628,000 s (~30 days), a heartbeat after
10 s of silence. Secrets (client secret, tokens) are kept out of ``repr``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ctrader_sdk._framing import DEFAULT_MAX_FRAME_SIZE
from ctrader_sdk.messages import ProtoOADealListReq, ProtoOAGetTickDataReq, ProtoOAGetTrendbarsReq

__all__ = [
    "DEFAULT_ACCOUNTS",
    "DEFAULT_HISTORICAL_PAYLOAD_TYPES",
    "AccountConfig",
    "SandboxConfig",
]

#: The payload types of the vendor's "historical data" rate class (5 requests/s per connection).
DEFAULT_HISTORICAL_PAYLOAD_TYPES: frozenset[int] = frozenset(
    {ProtoOAGetTrendbarsReq.PAYLOAD_TYPE, ProtoOAGetTickDataReq.PAYLOAD_TYPE, ProtoOADealListReq.PAYLOAD_TYPE}
)


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One trading account served by the sandbox.

    Attributes:
        ctid_trader_account_id: the account id used in every account-level request.
        trader_login: the login shown in the trader's UI (``ProtoOATrader.traderLogin``).
        is_live: whether the account belongs to the live environment. A sandbox plays one environment
            (``SandboxConfig.live``); authorising an account of the other one is refused with
            ``CANT_ROUTE_REQUEST``, as the vendor's demo host refuses live accounts.
        balance: the starting balance in units of the deposit currency (e.g. ``10_000.0`` dollars).
        deposit_currency: an asset name of the catalogue (``"USD"``, ``"EUR"``, ``"GBP"``, ...).
        leverage: account leverage, e.g. ``500`` for 1:500 (sent as ``leverageInCents``).
        broker_name: the broker shown in account lists and ``ProtoOATrader.brokerName``.
        money_digits: exponent of monetary values on the wire (balance 10,000.00 with 2 digits is 1000000).
    """

    ctid_trader_account_id: int
    trader_login: int
    is_live: bool = False
    balance: float = 10_000.0
    deposit_currency: str = "USD"
    leverage: int = 500
    broker_name: str = "Sandbox Markets"
    money_digits: int = 2

    def __post_init__(self) -> None:
        if self.ctid_trader_account_id <= 0:
            raise ValueError("ctid_trader_account_id must be positive")
        if self.leverage <= 0:
            raise ValueError("leverage must be positive")
        if not 0 <= self.money_digits <= 10:
            raise ValueError("money_digits must be between 0 and 10")
        if not math.isfinite(self.balance) or self.balance < 0:
            raise ValueError("balance must be a finite, non-negative amount")


#: Two demo accounts and a live one, as a cTrader ID typically holds.
DEFAULT_ACCOUNTS: tuple[AccountConfig, ...] = (
    AccountConfig(ctid_trader_account_id=100001, trader_login=5100001, balance=10_000.0, leverage=500),
    AccountConfig(
        ctid_trader_account_id=100002,
        trader_login=5100002,
        balance=5_000.0,
        deposit_currency="EUR",
        leverage=100,
    ),
    AccountConfig(
        ctid_trader_account_id=100003,
        trader_login=3100003,
        is_live=True,
        balance=2_500.0,
        leverage=30,
    ),
)


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything the sandbox can be told; every field has a working default.

    Attributes:
        client_id: the application's client id expected by ``ProtoOAApplicationAuthReq``.
        client_secret: the application's secret (never shown in ``repr`` or logs).
        access_token: the initial access token, granting every configured account.
        refresh_token: the initial refresh token; spent by ``ProtoOARefreshTokenReq``.
        accounts: the trading accounts behind the token.
        ctid_user_id: the user id answered by ``ProtoOAGetCtidProfileByTokenReq``.
        live: the environment the sandbox plays: ``False`` for the demo host, ``True`` for the live one.
        seed: seed of the price feed. The same seed gives the same price at the same instant, in
            every sandbox and on every machine.
        tls: serve TLS with a self-signed certificate made at start (needs the ``cryptography``
            package); :meth:`Sandbox.ssl_context` gives a client context that trusts it.
        host: the address to listen on.
        port: the port to listen on; 0 picks a free one (see ``Sandbox.port``).
        rate_limit_per_second: requests per second allowed on one connection, all payload types.
        historical_rate_limit_per_second: requests per second allowed for ``historical_payload_types``.
        historical_payload_types: payload types of the historical rate class.
        access_token_lifetime: seconds an access token stays valid after it is issued.
        heartbeat_interval: the sandbox sends ``ProtoHeartbeatEvent`` after this many seconds without
            sending anything to a client.
        idle_timeout: close a connection after this many seconds without any frame from the client;
            ``None`` never closes it.
        max_frame_size: the largest frame body accepted from a client; a larger announced length is
            answered with ``FRAME_TOO_LONG`` and the connection is closed.
        tick_interval_ms: the price feed's tick grid and the spot stream's pace (milliseconds); must
            divide a minute into at least 4 ticks.
        spot_omit_unchanged: as the vendor does, leave ``bid`` or ``ask`` out of a spot event when that
            side did not change since the previous event of the subscription.
        depth_levels: price levels per side in depth-of-market events.
        max_trendbars: the largest number of bars in one ``ProtoOAGetTrendbarsRes`` (``hasMore`` beyond).
        max_ticks: the largest number of ticks in one ``ProtoOAGetTickDataRes`` (``hasMore`` beyond).
        max_history_rows: the largest number of deals or orders in one list answer (``hasMore`` beyond).
        disabled_payload_types: request payload types answered with ``UNSUPPORTED_MESSAGE``, e.g. to
            play a server that no longer honours the v1 PnL requests.
        write_buffer_limit: bytes queued toward a client above which market data for it is skipped
            (counted in ``Sandbox.stats.market_data_skipped``), so a slow reader cannot grow memory.
    """

    client_id: str = "sandbox-client"
    client_secret: str = field(default="sandbox-secret", repr=False)
    access_token: str = field(default="sandbox-token", repr=False)
    refresh_token: str = field(default="sandbox-refresh", repr=False)
    accounts: tuple[AccountConfig, ...] = DEFAULT_ACCOUNTS
    ctid_user_id: int = 4_200_042
    live: bool = False
    seed: int = 42
    tls: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    rate_limit_per_second: int = 50
    historical_rate_limit_per_second: int = 5
    historical_payload_types: frozenset[int] = DEFAULT_HISTORICAL_PAYLOAD_TYPES
    access_token_lifetime: float = 2_628_000.0
    heartbeat_interval: float = 10.0
    idle_timeout: float | None = None
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    tick_interval_ms: int = 100
    spot_omit_unchanged: bool = True
    depth_levels: int = 5
    max_trendbars: int = 5_000
    max_ticks: int = 5_000
    max_history_rows: int = 1_000
    disabled_payload_types: frozenset[int] = frozenset()
    write_buffer_limit: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        if not self.client_id or not self.client_secret:
            raise ValueError("client_id and client_secret must not be empty")
        if not self.access_token or not self.refresh_token:
            raise ValueError("access_token and refresh_token must not be empty")
        ids = [a.ctid_trader_account_id for a in self.accounts]
        if len(set(ids)) != len(ids):
            raise ValueError("account ids must be unique")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if self.rate_limit_per_second <= 0 or self.historical_rate_limit_per_second <= 0:
            raise ValueError("rate limits must be positive")
        if self.access_token_lifetime <= 0 or self.heartbeat_interval <= 0:
            raise ValueError("access_token_lifetime and heartbeat_interval must be positive")
        if self.idle_timeout is not None and self.idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive or None")
        if self.max_frame_size <= 0:
            raise ValueError("max_frame_size must be positive")
        if (
            self.tick_interval_ms <= 0
            or 60_000 % self.tick_interval_ms
            or 60_000 // self.tick_interval_ms < 4
        ):
            raise ValueError("tick_interval_ms must divide a minute into at least 4 ticks")
        if self.depth_levels <= 0:
            raise ValueError("depth_levels must be positive")
        if min(self.max_trendbars, self.max_ticks, self.max_history_rows) <= 0:
            raise ValueError("max_trendbars, max_ticks and max_history_rows must be positive")
