"""The demo session behind ``ctrader demo``: a complete Open API session, start to finish.

Without credentials it starts the built-in sandbox (:mod:`ctrader_sdk.sandbox`) in-process and runs
against it: authenticate the application and the account, list accounts and symbols, fetch bars,
stream quotes with a live view, place a market order, show the execution and the position, close it.

With ``CTRADER_CLIENT_ID``, ``CTRADER_CLIENT_SECRET`` and ``CTRADER_ACCESS_TOKEN`` set, the same
session runs against the vendor's demo server; it places an order there only when asked (``--trade``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TextIO

from ctrader_sdk._client import Client
from ctrader_sdk._config import ClientConfig, Endpoint, Endpoints
from ctrader_sdk._events import EventStream
from ctrader_sdk.messages import (
    ProtoOAExecutionEvent,
    ProtoOAExecutionType,
    ProtoOALightSymbol,
    ProtoOAOrderType,
    ProtoOASpotEvent,
    ProtoOASymbol,
    ProtoOATradeSide,
    ProtoOATrendbarPeriod,
)

__all__ = ["DemoOptions", "run_demo"]

CLIENT_ID_ENV = "CTRADER_CLIENT_ID"
CLIENT_SECRET_ENV = "CTRADER_CLIENT_SECRET"
ACCESS_TOKEN_ENV = "CTRADER_ACCESS_TOKEN"
#: Symbols the demo streams when the account has them (else the first few of the list).
PREFERRED_SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD")
PRICE_SCALE = 100_000  # spot and bar prices are integers in 1/100000 of a unit (vendor docs)


@dataclass(frozen=True)
class DemoOptions:
    """What the demo does.

    Attributes:
        seconds: how long quotes are streamed.
        trade: place (and close) a market order; always done against the sandbox, only on request
            against a real server.
        symbols: how many symbols to stream.
        use_sandbox: force the built-in sandbox even when credentials are in the environment.
    """

    seconds: float = 5.0
    trade: bool = False
    symbols: int = 3
    use_sandbox: bool = False


@dataclass(frozen=True)
class _Credentials:
    client_id: str
    client_secret: str
    access_token: str

    def __repr__(self) -> str:
        return (
            f"_Credentials(client_id={self.client_id!r}, client_secret=<redacted>, access_token=<redacted>)"
        )


def _credentials_from_env() -> _Credentials | None:
    values = [os.environ.get(name, "") for name in (CLIENT_ID_ENV, CLIENT_SECRET_ENV, ACCESS_TOKEN_ENV)]
    return _Credentials(*values) if all(values) else None


@contextlib.asynccontextmanager
async def _target(
    options: DemoOptions, out: TextIO
) -> AsyncIterator[tuple[Endpoint, ssl.SSLContext | bool, _Credentials, bool]]:
    """Where to connect: the vendor's demo server with the user's credentials, or an in-process sandbox."""
    credentials = None if options.use_sandbox else _credentials_from_env()
    if credentials is not None:
        print(f"Connecting to the vendor's demo server {Endpoints.DEMO} (TLS, verified).", file=out)
        yield Endpoints.DEMO, True, credentials, options.trade
        return
    from ctrader_sdk.sandbox import Sandbox, SandboxConfig

    tls = _can_make_certificates()
    config = SandboxConfig(tls=tls, tick_interval_ms=100)
    async with Sandbox(config) as sandbox:
        endpoint = Endpoint(sandbox.host, sandbox.port)
        how = "TLS with its own certificate" if tls else "plain TCP (install 'cryptography' for TLS)"
        print(
            f"No credentials in the environment: using the built-in sandbox on {endpoint} ({how}).", file=out
        )
        context: ssl.SSLContext | bool = sandbox.ssl_context() if tls else False
        yield (
            endpoint,
            context,
            _Credentials(config.client_id, config.client_secret, config.access_token),
            True,
        )


def _can_make_certificates() -> bool:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return False
    return True


def _price(value: int | None, digits: int) -> str:
    return "-" if value is None else f"{value / PRICE_SCALE:.{digits}f}"


async def run_demo(options: DemoOptions | None = None, out: TextIO | None = None) -> int:
    """Run the demo session and return an exit code (0 on success).

    Args:
        options: what to do; see :class:`DemoOptions`.
        out: where the session is narrated (standard output by default).

    Raises:
        CTraderError: the server refused a step, or the connection failed.
    """
    options = options or DemoOptions()
    out = out if out is not None else sys.stdout
    async with (
        _target(options, out) as (endpoint, tls, credentials, trade),
        Client.connect(endpoint, ssl=tls, config=ClientConfig()) as client,
    ):
        await _session(client, credentials, options, trade, out)
    return 0


async def _session(
    client: Client, cred: _Credentials, options: DemoOptions, trade: bool, out: TextIO
) -> None:
    version = await client.version()
    print(f"Server version {version.version}.", file=out)

    await client.application_auth(client_id=cred.client_id, client_secret=cred.client_secret)
    print("Application authenticated.", file=out)

    accounts = await client.get_account_list_by_access_token(access_token=cred.access_token)
    print(f"{len(accounts.ctid_trader_account)} account(s) behind the token:", file=out)
    for acct in accounts.ctid_trader_account:
        kind = "live" if acct.is_live else "demo"
        print(f"  {acct.ctid_trader_account_id} ({kind}, login {acct.trader_login})", file=out)
    demo_accounts = [a for a in accounts.ctid_trader_account if not a.is_live] or accounts.ctid_trader_account
    if not demo_accounts:
        raise SystemExit("the access token grants no account")
    account = demo_accounts[0].ctid_trader_account_id

    await client.account_auth(ctid_trader_account_id=account, access_token=cred.access_token)
    trader = (await client.trader(ctid_trader_account_id=account)).trader
    money = 10**trader.money_digits if trader.money_digits is not None else 100
    print(f"Account {account} authorised: balance {trader.balance / money:,.2f}.", file=out)

    light = (await client.symbols_list(ctid_trader_account_id=account)).symbol
    print(f"{len(light)} symbols, e.g. {', '.join(s.symbol_name or '?' for s in light[:8])}.", file=out)
    chosen = _choose(light, options.symbols)
    details = await client.symbol_by_id(
        ctid_trader_account_id=account, symbol_id=[s.symbol_id for s in chosen]
    )
    symbols = {s.symbol_id: s for s in details.symbol}
    names = {s.symbol_id: s.symbol_name or str(s.symbol_id) for s in chosen}

    first = chosen[0]
    now_ms = int(time.time() * 1000)
    bars = await client.get_trendbars(
        ctid_trader_account_id=account,
        symbol_id=first.symbol_id,
        period=ProtoOATrendbarPeriod.H1,
        from_timestamp=now_ms - 24 * 3_600_000,
        to_timestamp=now_ms,
        count=5,
    )
    digits = symbols[first.symbol_id].digits
    print(f"Last {len(bars.trendbar)} H1 bars of {names[first.symbol_id]} (open/high/low/close):", file=out)
    for bar in bars.trendbar:
        low = bar.low or 0
        opened = time.strftime("%Y-%m-%d %H:%M", time.gmtime((bar.utc_timestamp_in_minutes or 0) * 60))
        ohlc = (low + (bar.delta_open or 0), low + (bar.delta_high or 0), low, low + (bar.delta_close or 0))
        print(f"  {opened}  " + "  ".join(_price(p, digits) for p in ohlc), file=out)

    await _stream_quotes(client, account, symbols, names, options.seconds, out)

    if not trade:
        print("Not trading on a real server without --trade.", file=out)
        return
    await _trade(client, account, symbols[first.symbol_id], names[first.symbol_id], out)


def _choose(light: list[ProtoOALightSymbol], count: int) -> list[ProtoOALightSymbol]:
    enabled = [s for s in light if s.enabled is not False]
    by_name = {(s.symbol_name or "").replace("/", ""): s for s in enabled}
    chosen = [by_name[name] for name in PREFERRED_SYMBOLS if name in by_name]
    chosen += [s for s in enabled if s not in chosen]
    if not chosen:
        raise SystemExit("the account has no tradable symbol")
    return chosen[: max(1, count)]


async def _stream_quotes(
    client: Client,
    account: int,
    symbols: dict[int, ProtoOASymbol],
    names: dict[int, str],
    seconds: float,
    out: TextIO,
) -> None:
    ids = list(symbols)
    print(f"Streaming quotes of {', '.join(names[i] for i in ids)} for {seconds:g} s:", file=out)
    live = out.isatty()
    last: dict[int, tuple[int | None, int | None]] = {}
    received = 0
    loop = asyncio.get_running_loop()
    async with client.events(ProtoOASpotEvent, ctid_trader_account_id=account) as spots:
        await client.subscribe_spots(ctid_trader_account_id=account, symbol_id=ids)
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                spot = await asyncio.wait_for(anext(spots), left)
            except asyncio.TimeoutError:
                break
            received += 1
            bid, ask = last.get(spot.symbol_id, (None, None))
            last[spot.symbol_id] = (
                spot.bid if spot.bid is not None else bid,
                spot.ask if spot.ask is not None else ask,
            )
            line = "  ".join(
                f"{names[i]} {_price(last[i][0], symbols[i].digits)}/{_price(last[i][1], symbols[i].digits)}"
                for i in ids
                if i in last
            )
            if live:
                print(f"\r  {line}  ({left:4.1f} s)", end="", file=out, flush=True)
            elif received % len(ids) == 0:
                print(f"  {line}", file=out)
        await client.unsubscribe_spots(ctid_trader_account_id=account, symbol_id=ids)
    if live:
        print(file=out)
    print(f"{received} spot events received.", file=out)


async def _trade(client: Client, account: int, symbol: ProtoOASymbol, name: str, out: TextIO) -> None:
    volume = symbol.min_volume or symbol.step_volume or 100_000
    async with client.events(ProtoOAExecutionEvent, ctid_trader_account_id=account) as executions:
        print(f"Placing a market BUY of {volume / 100:,.0f} units of {name}...", file=out)
        accepted = await client.new_order(
            ctid_trader_account_id=account,
            symbol_id=symbol.symbol_id,
            order_type=ProtoOAOrderType.MARKET,
            trade_side=ProtoOATradeSide.BUY,
            volume=volume,
            comment="ctrader_sdk demo",
        )
        print(f"  {_describe(accepted)}", file=out)
        filled = await _until_filled(executions, accepted, out)
        position = filled.position
        if position is None:
            raise SystemExit("the fill carried no position")
        price = position.price if position.price is not None else 0.0
        print(
            f"Position {position.position_id}: {position.trade_data.trade_side.name} "
            f"{position.trade_data.volume / 100:,.0f} units of {name} at {price:.{symbol.digits}f}.",
            file=out,
        )
        reconcile = await client.reconcile(ctid_trader_account_id=account)
        print(f"Open positions now: {len(reconcile.position)}.", file=out)
        closed = await client.close_position(
            ctid_trader_account_id=account,
            position_id=position.position_id,
            volume=position.trade_data.volume,
        )
        print(f"Closing: {_describe(closed)}", file=out)
        await _until_filled(executions, closed, out)
    reconcile = await client.reconcile(ctid_trader_account_id=account)
    print(f"Position closed; open positions now: {len(reconcile.position)}.", file=out)


async def _until_filled(
    executions: EventStream[ProtoOAExecutionEvent], first: ProtoOAExecutionEvent, out: TextIO
) -> ProtoOAExecutionEvent:
    """Follow the execution events of the order ``first`` answered for, until it is filled."""
    event = first
    order_id = first.order.order_id if first.order is not None else None
    while event.execution_type != ProtoOAExecutionType.ORDER_FILLED:
        event = await asyncio.wait_for(anext(executions), 10)
        if event is first or (event.order is not None and event.order.order_id != order_id):
            continue  # the answer itself also reaches the stream; other orders are not ours
        print(f"  {_describe(event)}", file=out)
    return event


def _describe(event: ProtoOAExecutionEvent) -> str:
    order = event.order
    what = event.execution_type.name
    if order is None:
        return what
    return f"{what}: order {order.order_id} {order.order_status.name}"
