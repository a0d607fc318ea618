"""Market data: catalogue, the seeded feed, spots, depth, live and historical trendbars, ticks."""

from __future__ import annotations

import asyncio
import random

import pytest

from ctrader_sdk.messages import (
    ProtoOAAssetClassListReq,
    ProtoOAAssetClassListRes,
    ProtoOAAssetListReq,
    ProtoOAAssetListRes,
    ProtoOADepthEvent,
    ProtoOAGetDynamicLeverageByIDReq,
    ProtoOAGetDynamicLeverageByIDRes,
    ProtoOAGetTickDataReq,
    ProtoOAGetTickDataRes,
    ProtoOAGetTrendbarsReq,
    ProtoOAGetTrendbarsRes,
    ProtoOAQuoteType,
    ProtoOASpotEvent,
    ProtoOASubscribeDepthQuotesReq,
    ProtoOASubscribeDepthQuotesRes,
    ProtoOASubscribeLiveTrendbarReq,
    ProtoOASubscribeLiveTrendbarRes,
    ProtoOASubscribeSpotsReq,
    ProtoOASubscribeSpotsRes,
    ProtoOASymbolByIdReq,
    ProtoOASymbolByIdRes,
    ProtoOASymbolCategoryListReq,
    ProtoOASymbolCategoryListRes,
    ProtoOASymbolsForConversionReq,
    ProtoOASymbolsForConversionRes,
    ProtoOASymbolsListReq,
    ProtoOASymbolsListRes,
    ProtoOATrendbar,
    ProtoOATrendbarPeriod,
    ProtoOAUnsubscribeDepthQuotesReq,
    ProtoOAUnsubscribeDepthQuotesRes,
    ProtoOAUnsubscribeSpotsReq,
    ProtoOAUnsubscribeSpotsRes,
)
from ctrader_sdk.sandbox import Sandbox
from ctrader_sdk.sandbox._market import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Bar,
    Catalogue,
    PriceFeed,
    bar_shift,
    bar_start,
)

from .conftest import DEMO, EURUSD, US500, USDJPY, XAUUSD, Connect, MakeSandbox

P = ProtoOATrendbarPeriod
FX_MAJORS = {"EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCHF", "USDCAD", "NZDUSD"}


def ohlc(bar: ProtoOATrendbar) -> tuple[int, int, int, int]:
    """(open, high, low, close) of a vendor-encoded bar."""
    low = bar.low or 0
    return low + (bar.delta_open or 0), low + (bar.delta_high or 0), low, low + (bar.delta_close or 0)


def bar(feed: PriceFeed, symbol_id: int, period: ProtoOATrendbarPeriod, start: int) -> Bar:
    """A complete historical bar of the feed."""
    found = feed.bar(symbol_id, period, start, 1 << 62)
    assert found is not None
    return found


def decode_ticks(res: ProtoOAGetTickDataRes) -> list[tuple[int, int]]:
    """Undo the vendor's delta encoding (running sums), newest first."""
    out, t, price = [], 0, 0
    for tick in res.tick_data:
        t += tick.timestamp
        price += tick.tick
        out.append((t, price))
    return out


# ---------------------------------------------------------------------------------------------
# Catalogue


async def test_symbols_list_holds_the_catalogue(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    res = await client.ok(ProtoOASymbolsListReq(ctid_trader_account_id=DEMO), ProtoOASymbolsListRes)
    names = {s.symbol_name for s in res.symbol}
    assert FX_MAJORS | {"EURGBP", "XAUUSD", "XAGUSD", "US500", "US30", "DE40", "UK100"} == names
    eurusd = next(s for s in res.symbol if s.symbol_id == EURUSD)
    assert (eurusd.symbol_name, eurusd.enabled, eurusd.base_asset_id, eurusd.quote_asset_id) == (
        "EURUSD",
        True,
        1,
        2,
    )
    assert res.archived_symbol == []
    archived = await client.ok(
        ProtoOASymbolsListReq(ctid_trader_account_id=DEMO, include_archived_symbols=True),
        ProtoOASymbolsListRes,
    )
    assert {a.name for a in archived.archived_symbol} == {"DE30", "USDRUB"}


async def test_symbol_by_id_has_the_vendor_units(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    res = await client.ok(
        ProtoOASymbolByIdReq(ctid_trader_account_id=DEMO, symbol_id=[EURUSD, USDJPY, XAUUSD, US500, 90]),
        ProtoOASymbolByIdRes,
    )
    by_id = {s.symbol_id: s for s in res.symbol}
    eurusd, usdjpy, gold, us500 = by_id[EURUSD], by_id[USDJPY], by_id[XAUUSD], by_id[US500]
    assert (eurusd.digits, eurusd.pip_position, eurusd.lot_size) == (5, 4, 10_000_000)
    assert (eurusd.min_volume, eurusd.step_volume, eurusd.max_volume) == (100_000, 100_000, 10_000_000_000)
    assert (usdjpy.digits, usdjpy.pip_position) == (3, 2)
    assert (gold.digits, gold.lot_size, us500.digits) == (2, 10_000, 2)
    assert (
        eurusd.schedule and eurusd.schedule[0].start_second == 0 and eurusd.schedule[0].end_second == 604_800
    )
    assert [a.name for a in res.archived_symbol] == ["DE30"]
    missing = await client.error(ProtoOASymbolByIdReq(ctid_trader_account_id=DEMO, symbol_id=[EURUSD, 777]))
    assert missing.error_code == "SYMBOL_NOT_FOUND"


async def test_assets_classes_categories_conversion_and_leverage(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    assets = (await client.ok(ProtoOAAssetListReq(ctid_trader_account_id=DEMO), ProtoOAAssetListRes)).asset
    ids = {a.name: a.asset_id for a in assets}
    assert {"EUR", "USD", "GBP", "JPY", "XAU"} <= set(ids)
    classes = await client.ok(ProtoOAAssetClassListReq(ctid_trader_account_id=DEMO), ProtoOAAssetClassListRes)
    assert {c.name for c in classes.asset_class} == {"Forex", "Metals", "Indices"}
    categories = await client.ok(
        ProtoOASymbolCategoryListReq(ctid_trader_account_id=DEMO), ProtoOASymbolCategoryListRes
    )
    class_ids = {c.id for c in classes.asset_class}
    assert categories.symbol_category and all(
        c.asset_class_id in class_ids for c in categories.symbol_category
    )
    chain = await client.ok(
        ProtoOASymbolsForConversionReq(
            ctid_trader_account_id=DEMO, first_asset_id=ids["GBP"], last_asset_id=ids["JPY"]
        ),
        ProtoOASymbolsForConversionRes,
    )
    assert [s.symbol_name for s in chain.symbol] == ["GBPUSD", "USDJPY"]
    leverage = await client.ok(
        ProtoOAGetDynamicLeverageByIDReq(ctid_trader_account_id=DEMO, leverage_id=1),
        ProtoOAGetDynamicLeverageByIDRes,
    )
    assert leverage.leverage.tiers and leverage.leverage.tiers[0].leverage == 500
    unknown = await client.error(
        ProtoOAGetDynamicLeverageByIDReq(ctid_trader_account_id=DEMO, leverage_id=99)
    )
    assert unknown.error_code == "ENTITY_NOT_FOUND"


# ---------------------------------------------------------------------------------------------
# The feed (pure)


def test_the_feed_is_a_function_of_seed_and_time() -> None:
    catalogue = Catalogue()
    a, b, c = PriceFeed(catalogue, 42, 100), PriceFeed(Catalogue(), 42, 100), PriceFeed(catalogue, 43, 100)
    t = 1_700_000_000_000
    instants = [t + k * 12_345 for k in range(20)]
    for symbol_id in catalogue.symbols:
        assert [a.quote(symbol_id, i) for i in instants] == [b.quote(symbol_id, i) for i in instants]
    assert [a.quote(EURUSD, i) for i in instants] != [c.quote(EURUSD, i) for i in instants]
    # Realistic levels, in the vendor's 1/100000 units, with a positive spread.
    bid, ask = a.quote(EURUSD, t)
    assert 90_000 < bid < ask < 130_000
    bid, ask = a.quote(USDJPY, t)
    assert 12_000_000 < bid < ask < 19_000_000 and bid % 100 == 0


def test_bars_of_every_period_aggregate_exactly() -> None:
    feed = PriceFeed(Catalogue(), 7, 250)
    rng = random.Random(1)
    for _ in range(4):
        t = rng.randrange(1_500_000_000_000, 1_750_000_000_000)
        hour = bar_start(P.H1, t)
        minutes = [bar(feed, EURUSD, P.M1, hour + k * MINUTE_MS) for k in range(60)]
        h1 = bar(feed, EURUSD, P.H1, hour)
        assert h1.open == minutes[0].open and h1.close == minutes[-1].close
        assert h1.high == max(m.high for m in minutes) and h1.low == min(m.low for m in minutes)
        assert h1.volume == sum(m.volume for m in minutes)
        # M1 bars against their ticks: open = first, close = last, high/low = extremes.
        for m in minutes[:3]:
            bids, _ = feed._feeds[EURUSD].ticks(m.start // MINUTE_MS)
            assert (bids[0], max(bids), min(bids), bids[-1]) == (m.open, m.high, m.low, m.close)
        day = bar_start(P.D1, t)
        d1 = bar(feed, XAUUSD, P.D1, day)
        h4 = [bar(feed, XAUUSD, P.H4, day + k * 4 * HOUR_MS) for k in range(6)]
        assert d1.high == max(b.high for b in h4) and d1.low == min(b.low for b in h4)
        assert (d1.open, d1.close) == (h4[0].open, h4[-1].close)
    # Weekly bars start on Sunday; monthly bars on the 1st.
    week = bar_start(P.W1, 1_700_000_000_000)
    assert (week // DAY_MS + 4) % 7 == 0  # 1970-01-01 was a Thursday
    assert bar_shift(P.MN1, bar_start(P.MN1, 1_700_000_000_000), 1) == 1_701_388_800_000  # 2023-12-01


# ---------------------------------------------------------------------------------------------
# Streams


async def test_spot_stream_follows_the_seeded_feed(make_sandbox: MakeSandbox, connect: Connect) -> None:
    one, two = await make_sandbox(seed=11), await make_sandbox(seed=11)
    a, b = await connect(one, login=(DEMO,)), await connect(two, login=(DEMO,))
    for client in (a, b):
        await client.ok(
            ProtoOASubscribeSpotsReq(
                ctid_trader_account_id=DEMO, symbol_id=[EURUSD, XAUUSD], subscribe_to_spot_timestamp=True
            ),
            ProtoOASubscribeSpotsRes,
        )
    first = await a.event(ProtoOASpotEvent, symbol_id=EURUSD)
    assert (
        first.bid is not None and first.ask is not None and first.session_close is not None
    )  # full first event
    await asyncio.sleep(0.8)
    for sb, client in ((one, a), (two, b)):
        spots = [e.message for e in client.inbox if isinstance(e.message, ProtoOASpotEvent)]
        assert len(spots) >= 3
        last: dict[int, tuple[int, int]] = {}
        for spot in spots:
            assert spot.timestamp is not None and spot.timestamp % 100 == 0
            assert spot.bid is not None or spot.ask is not None
            expected = sb.quote(spot.symbol_id, spot.timestamp)
            if spot.bid is not None:
                assert spot.bid == expected.bid
            if spot.ask is not None:
                assert spot.ask == expected.ask
            if spot.symbol_id in last:  # an omitted side did not change
                assert spot.bid is not None or last[spot.symbol_id][0] == expected.bid
                assert spot.ask is not None or last[spot.symbol_id][1] == expected.ask
            last[spot.symbol_id] = (expected.bid, expected.ask)
    # Same seed, same instant, same price: in both sandboxes.
    t = one.now_ms()
    assert [one.quote(s, t) for s in (EURUSD, XAUUSD, US500)] == [
        two.quote(s, t) for s in (EURUSD, XAUUSD, US500)
    ]
    await a.ok(
        ProtoOAUnsubscribeSpotsReq(ctid_trader_account_id=DEMO, symbol_id=[EURUSD, XAUUSD]),
        ProtoOAUnsubscribeSpotsRes,
    )
    a.drop(ProtoOASpotEvent)
    await asyncio.sleep(0.3)
    assert not [e for e in a.inbox if isinstance(e.message, ProtoOASpotEvent)]


async def test_subscription_errors(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    unknown = await client.error(
        ProtoOASubscribeSpotsReq(ctid_trader_account_id=DEMO, symbol_id=[EURUSD, 555])
    )
    assert unknown.error_code == "SYMBOL_NOT_FOUND"
    no_spots = await client.error(
        ProtoOASubscribeLiveTrendbarReq(ctid_trader_account_id=DEMO, period=P.M1, symbol_id=EURUSD)
    )
    assert no_spots.error_code == "NOT_SUBSCRIBED_TO_SPOTS"
    await client.ok(
        ProtoOASubscribeSpotsReq(ctid_trader_account_id=DEMO, symbol_id=[EURUSD]), ProtoOASubscribeSpotsRes
    )
    twice = await client.error(ProtoOASubscribeSpotsReq(ctid_trader_account_id=DEMO, symbol_id=[EURUSD]))
    assert twice.error_code == "ALREADY_SUBSCRIBED"


async def test_live_trendbars_ride_on_spot_events(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    await client.ok(
        ProtoOASubscribeSpotsReq(
            ctid_trader_account_id=DEMO, symbol_id=[EURUSD], subscribe_to_spot_timestamp=True
        ),
        ProtoOASubscribeSpotsRes,
    )
    for period in (P.M1, P.H1):
        await client.ok(
            ProtoOASubscribeLiveTrendbarReq(ctid_trader_account_id=DEMO, period=period, symbol_id=EURUSD),
            ProtoOASubscribeLiveTrendbarRes,
        )
    spot = await client.expect(
        lambda e: isinstance(e.message, ProtoOASpotEvent) and len(e.message.trendbar) == 2, timeout=5
    )
    assert isinstance(spot.message, ProtoOASpotEvent) and spot.message.timestamp is not None
    bars = {b.period: b for b in spot.message.trendbar}
    assert set(bars) == {P.M1, P.H1}
    ts = spot.message.timestamp
    quote = sandbox.quote(EURUSD, ts)
    for live_period, live in bars.items():
        assert live_period is not None
        assert live.utc_timestamp_in_minutes == bar_start(live_period, ts) // MINUTE_MS
        assert ohlc(live)[3] == quote.bid  # the forming bar closes at the current bid
        assert ohlc(live)[2] <= quote.bid <= ohlc(live)[1]


async def test_depth_quotes_stream_changes(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    await client.ok(
        ProtoOASubscribeDepthQuotesReq(ctid_trader_account_id=DEMO, symbol_id=[EURUSD]),
        ProtoOASubscribeDepthQuotesRes,
    )
    first = await client.event(ProtoOADepthEvent, symbol_id=EURUSD)
    book = {q.id: q for q in first.new_quotes}
    assert len(book) == 10 and not first.deleted_quotes
    bids = sorted((q.bid for q in book.values() if q.bid is not None), reverse=True)
    asks = sorted(q.ask for q in book.values() if q.ask is not None)
    assert len(bids) == len(asks) == 5 and bids[0] < asks[0]
    assert all(q.size > 0 for q in book.values())
    update = await client.event(ProtoOADepthEvent, symbol_id=EURUSD, timeout=3)
    for quote_id in update.deleted_quotes:
        assert quote_id in book
        del book[quote_id]
    book.update({q.id: q for q in update.new_quotes})
    assert len(book) == 10
    await client.ok(
        ProtoOAUnsubscribeDepthQuotesReq(ctid_trader_account_id=DEMO, symbol_id=[EURUSD]),
        ProtoOAUnsubscribeDepthQuotesRes,
    )


async def test_push_spots_sends_a_burst(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    await client.ok(
        ProtoOASubscribeSpotsReq(ctid_trader_account_id=DEMO, symbol_id=[US500]), ProtoOASubscribeSpotsRes
    )
    assert await sandbox.push_spots(DEMO, US500, 2_000) == 2_000
    assert await sandbox.push_spots(DEMO, EURUSD, 10) == 0  # not subscribed
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while (
        sum(isinstance(e.message, ProtoOASpotEvent) for e in client.inbox) < 2_000 and loop.time() < deadline
    ):
        await asyncio.sleep(0.02)
    spots = [e.message for e in client.inbox if isinstance(e.message, ProtoOASpotEvent)]
    assert len(spots) >= 2_000
    assert all(s.bid is not None and s.ask is not None for s in spots[1:2_000])


# ---------------------------------------------------------------------------------------------
# History


async def test_trendbars_for_any_period_and_range(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    now = sandbox.now_ms()
    to = bar_start(P.H1, now) - 5 * HOUR_MS
    frm = to - 2 * HOUR_MS
    h1 = await client.ok(
        ProtoOAGetTrendbarsReq(
            ctid_trader_account_id=DEMO, from_timestamp=frm, to_timestamp=to, period=P.H1, symbol_id=EURUSD
        ),
        ProtoOAGetTrendbarsRes,
    )
    m5 = await client.ok(
        ProtoOAGetTrendbarsReq(
            ctid_trader_account_id=DEMO, from_timestamp=frm, to_timestamp=to, period=P.M5, symbol_id=EURUSD
        ),
        ProtoOAGetTrendbarsRes,
    )
    assert (h1.timestamp, h1.symbol_id, h1.period, h1.has_more) == (to, EURUSD, P.H1, False)
    assert [b.utc_timestamp_in_minutes for b in h1.trendbar] == [
        frm // MINUTE_MS,
        (frm + HOUR_MS) // MINUTE_MS,
    ]
    assert len(m5.trendbar) == 24
    for i, hour in enumerate(h1.trendbar):
        parts = [ohlc(b) for b in m5.trendbar[i * 12 : (i + 1) * 12]]
        o, h, lo, c = ohlc(hour)
        assert (o, h, lo, c) == (
            parts[0][0],
            max(p[1] for p in parts),
            min(p[2] for p in parts),
            parts[-1][3],
        )
        assert hour.volume == sum(b.volume for b in m5.trendbar[i * 12 : (i + 1) * 12])
    # count: the newest bars back from toTimestamp; without from, history reaches back far enough.
    last = await client.ok(
        ProtoOAGetTrendbarsReq(
            ctid_trader_account_id=DEMO, to_timestamp=to, period=P.D1, symbol_id=XAUUSD, count=3
        ),
        ProtoOAGetTrendbarsRes,
    )
    assert [b.utc_timestamp_in_minutes for b in last.trendbar] == [
        (bar_start(P.D1, to - 1) - k * DAY_MS) // MINUTE_MS for k in (2, 1, 0)
    ]
    monthly = await client.ok(
        ProtoOAGetTrendbarsReq(ctid_trader_account_id=DEMO, from_timestamp=0, period=P.MN1, symbol_id=US500),
        ProtoOAGetTrendbarsRes,
    )
    assert monthly.trendbar[0].utc_timestamp_in_minutes == 0 and monthly.timestamp is not None
    # The forming bar ends at the current price.
    current = await client.ok(
        ProtoOAGetTrendbarsReq(ctid_trader_account_id=DEMO, period=P.M1, symbol_id=EURUSD, count=1),
        ProtoOAGetTrendbarsRes,
    )
    assert current.timestamp is not None  # always set: required before release 89
    (bar,) = current.trendbar
    assert bar.utc_timestamp_in_minutes == bar_start(P.M1, current.timestamp) // MINUTE_MS
    assert ohlc(bar)[3] == sandbox.quote(EURUSD, current.timestamp).bid


async def test_trendbars_chunking_and_boundaries(make_sandbox: MakeSandbox, connect: Connect) -> None:
    sb = await make_sandbox(max_trendbars=50)
    client = await connect(sb, login=(DEMO,))
    res = await client.ok(
        ProtoOAGetTrendbarsReq(ctid_trader_account_id=DEMO, period=P.M1, symbol_id=EURUSD, from_timestamp=0),
        ProtoOAGetTrendbarsRes,
    )
    assert len(res.trendbar) == 50 and res.has_more
    for frm, to in ((-1, 10), (10, 5), (0, 2_147_483_647_000)):
        bad = await client.error(
            ProtoOAGetTrendbarsReq(
                ctid_trader_account_id=DEMO,
                period=P.M1,
                symbol_id=EURUSD,
                from_timestamp=frm,
                to_timestamp=to,
            )
        )
        assert bad.error_code == "INCORRECT_BOUNDARIES"
    unknown = await client.error(
        ProtoOAGetTrendbarsReq(ctid_trader_account_id=DEMO, period=P.M1, symbol_id=555)
    )
    assert unknown.error_code == "SYMBOL_NOT_FOUND"


async def test_tick_data_uses_the_vendor_delta_encoding(sandbox: Sandbox, connect: Connect) -> None:
    client = await connect(sandbox, login=(DEMO,))
    minute = bar_start(P.M1, sandbox.now_ms()) - 10 * MINUTE_MS
    bars = await client.ok(
        ProtoOAGetTrendbarsReq(
            ctid_trader_account_id=DEMO,
            from_timestamp=minute,
            to_timestamp=minute + MINUTE_MS,
            period=P.M1,
            symbol_id=EURUSD,
        ),
        ProtoOAGetTrendbarsRes,
    )
    bids = await client.ok(
        ProtoOAGetTickDataReq(
            ctid_trader_account_id=DEMO,
            symbol_id=EURUSD,
            type_=ProtoOAQuoteType.BID,
            from_timestamp=minute,
            to_timestamp=minute + MINUTE_MS - 1,
        ),
        ProtoOAGetTickDataRes,
    )
    ticks = decode_ticks(bids)
    assert not bids.has_more and len(ticks) > 10
    assert [t for t, _ in ticks] == sorted((t for t, _ in ticks), reverse=True)  # newest first
    assert all(minute <= t < minute + MINUTE_MS for t, _ in ticks)
    assert all(p == sandbox.quote(EURUSD, t).bid for t, p in ticks)
    o, h, lo, c = ohlc(bars.trendbar[0])
    prices = [p for _, p in ticks]
    # The open is the price in force when the minute starts (set by an earlier tick); the rest are ticks.
    assert o == sandbox.quote(EURUSD, minute).bid and c == ticks[0][1]
    assert (max([*prices, o]), min([*prices, o])) == (h, lo)
    asks = await client.ok(
        ProtoOAGetTickDataReq(
            ctid_trader_account_id=DEMO,
            symbol_id=EURUSD,
            type_=ProtoOAQuoteType.ASK,
            from_timestamp=minute,
            to_timestamp=minute + 5000,
        ),
        ProtoOAGetTickDataRes,
    )
    assert all(p == sandbox.quote(EURUSD, t).ask for t, p in decode_ticks(asks))


async def test_tick_data_is_chunked(make_sandbox: MakeSandbox, connect: Connect) -> None:
    sb = await make_sandbox(max_ticks=100)
    client = await connect(sb, login=(DEMO,))
    res = await client.ok(
        ProtoOAGetTickDataReq(ctid_trader_account_id=DEMO, symbol_id=XAUUSD, type_=ProtoOAQuoteType.BID),
        ProtoOAGetTickDataRes,
    )
    assert len(res.tick_data) == 100 and res.has_more


@pytest.mark.parametrize("period", list(P))
def test_bar_alignment_round_trips(period: ProtoOATrendbarPeriod) -> None:
    t = 1_718_000_123_456
    start = bar_start(period, t)
    assert start <= t < bar_shift(period, start, 1)
    assert bar_shift(period, bar_shift(period, start, 1), -1) == start
    assert bar_start(period, bar_shift(period, start, -3)) == bar_shift(period, start, -3)
