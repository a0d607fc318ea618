"""Quickstart: connect, authenticate, read bars, stream quotes, trade — the SDK in one page.

    python examples/quickstart.py

With CTRADER_CLIENT_ID, CTRADER_CLIENT_SECRET and CTRADER_ACCESS_TOKEN set it talks to the vendor's demo
server (and does not trade unless you pass --trade); otherwise it starts the built-in sandbox. The same
session, with a live quote view, is `ctrader demo`.
"""

from __future__ import annotations

import asyncio
import os
import sys

from ctrader_sdk import Client, Endpoint, Endpoints, OrderError
from ctrader_sdk.messages import ProtoOAOrderType, ProtoOASpotEvent, ProtoOATradeSide, ProtoOATrendbarPeriod
from ctrader_sdk.sandbox import Sandbox, SandboxConfig


async def session(client: Client, client_id: str, secret: str, token: str, trade: bool) -> None:
    await client.application_auth(client_id=client_id, client_secret=secret)
    accounts = await client.get_account_list_by_access_token(access_token=token)
    account = accounts.ctid_trader_account[0].ctid_trader_account_id
    await client.account_auth(ctid_trader_account_id=account, access_token=token)

    symbols = (await client.symbols_list(ctid_trader_account_id=account)).symbol
    symbol = symbols[0]
    print(f"account {account}: {len(symbols)} symbols; using {symbol.symbol_name}")

    bars = await client.get_trendbars(
        ctid_trader_account_id=account, symbol_id=symbol.symbol_id, period=ProtoOATrendbarPeriod.M1, count=10
    )
    print(f"{len(bars.trendbar)} M1 bars, last low {bars.trendbar[-1].low}")

    async with client.events(ProtoOASpotEvent, symbol_id=symbol.symbol_id) as spots:
        await client.subscribe_spots(ctid_trader_account_id=account, symbol_id=[symbol.symbol_id])
        for _ in range(5):
            spot = await anext(spots)  # typed: ProtoOASpotEvent
            print(f"bid {spot.bid} ask {spot.ask}")

    if trade:
        try:
            execution = await client.new_order(  # answered by the first execution event
                ctid_trader_account_id=account,
                symbol_id=symbol.symbol_id,
                order_type=ProtoOAOrderType.MARKET,
                trade_side=ProtoOATradeSide.BUY,
                volume=100_000,  # in cents of units: 1,000 units
            )
            print(f"order {execution.execution_type.name}")
        except OrderError as exc:  # the server refused the order: exc.code, exc.description
            print(f"order refused: {exc}")


async def main() -> None:
    trade = "--trade" in sys.argv
    env = [
        os.environ.get(k, "") for k in ("CTRADER_CLIENT_ID", "CTRADER_CLIENT_SECRET", "CTRADER_ACCESS_TOKEN")
    ]
    if all(env):
        async with Client.connect(Endpoints.DEMO) as client:  # TLS, verified
            await session(client, *env, trade=trade)
        return
    config = SandboxConfig()
    async with (
        Sandbox(config) as sandbox,
        Client.connect(Endpoint(sandbox.host, sandbox.port), ssl=False) as client,
    ):
        await session(client, config.client_id, config.client_secret, config.access_token, trade=True)


if __name__ == "__main__":
    asyncio.run(main())
