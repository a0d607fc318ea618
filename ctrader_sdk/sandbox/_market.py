"""The sandbox's market: a symbol catalogue and a deterministic, seeded price feed.

Catalogue
    FX majors and a cross, two spot metals and four indices, with the vendor's units: volumes in
    cents of a unit (a 100,000-unit FX lot is ``lotSize`` 10,000,000), prices on the wire as integers in
    1/100000 of a price unit (EURUSD 1.08123 is 108123), symbol ids close to a typical cTrader server.

Feed
    Every price is a pure function of ``(seed, symbol, time)``, so two sandboxes with the same seed
    quote the same price at the same millisecond, and history is computable for any range without
    storing it. The construction is top-down, one level per time scale:

    * days: a mean-reverting random walk of the log price around the symbol's reference price
      (sequential from the Unix epoch, cached), giving each day its open, close (= next day's open),
      high and low;
    * hours of a day, minutes of an hour, ticks of a minute: a seeded random bridge from the parent's
      open to its close, stretched so that it touches exactly the parent's high and low and never
      leaves that range; each child's own high and low lie inside the parent's.

    So a bar of any period aggregates exactly to the bars of the shorter periods it contains and to
    the ticks it contains: open = first tick, close = last tick, high/low = extreme ticks. Bars and
    ticks are on the bid, as the vendor's are; the ask is the bid plus a seeded spread. Tick volume is
    split top-down the same way, so volumes add up across periods too. The market never closes, so
    tests and demos also work on weekends (the symbols' schedules say so).
"""

from __future__ import annotations

import functools
import math
import random
from array import array
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final, NamedTuple, TypeVar

from ctrader_sdk.messages import (
    ProtoOAArchivedSymbol,
    ProtoOAAsset,
    ProtoOAAssetClass,
    ProtoOACommissionType,
    ProtoOADayOfWeek,
    ProtoOADynamicLeverage,
    ProtoOADynamicLeverageTier,
    ProtoOAInterval,
    ProtoOALightSymbol,
    ProtoOASwapCalculationType,
    ProtoOASymbol,
    ProtoOASymbolCategory,
    ProtoOASymbolDistanceType,
    ProtoOATradingMode,
    ProtoOATrendbar,
    ProtoOATrendbarPeriod,
)

__all__ = [
    "Bar",
    "Catalogue",
    "PriceFeed",
    "Quote",
    "SymbolSpec",
]

MINUTE_MS: Final = 60_000
HOUR_MS: Final = 60 * MINUTE_MS
DAY_MS: Final = 24 * HOUR_MS
WEEK_MS: Final = 7 * DAY_MS
#: Weekly bars start on Sunday 00:00 UTC, when the FX week opens; 1970-01-04 was the first Sunday.
_FIRST_SUNDAY_MS: Final = 3 * DAY_MS
#: Prices on the wire are integers in 1/100000 of a price unit.
WIRE_DIGITS: Final = 5
#: Mean reversion of the daily log price toward the reference price (per day).
_REVERSION: Final = 0.01
_SQRT3: Final = math.sqrt(3.0)
_M64: Final = (1 << 64) - 1
_V = TypeVar("_V")

# ---------------------------------------------------------------------------------------------
# Catalogue


@dataclass(frozen=True, slots=True)
class AssetSpec:
    """An asset (currency, metal, index) as listed by ``ProtoOAAssetListRes``."""

    asset_id: int
    name: str
    display_name: str
    digits: int


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A tradable symbol and the parameters of its simulated market.

    Attributes:
        symbol_id: the id used on the wire.
        name: the symbol name (``"EURUSD"``).
        base: base asset name; quote: quote asset name.
        category_id: the ``ProtoOASymbolCategory`` it belongs to.
        description: human-readable description.
        digits: price digits; pip_position: digit of the pip.
        lot_size: one lot in cents of a unit; min_volume/max_volume/step_volume: order volumes in cents.
        price: reference price the daily walk reverts to.
        daily_volatility: standard deviation of the daily log return (0.005 = 0.5 %).
        spread: typical spread in points (10**-digits of a price unit).
        ticks_per_minute: average tick volume of a minute.
        leverage_id: the dynamic leverage entity of the symbol.
        commission: commission per side in USD per million USD traded (0: none).
        swap_long/swap_short: swap rates in pips (reported, not charged by the sandbox).
        measurement_units: units the base asset is denominated in.
    """

    symbol_id: int
    name: str
    base: str
    quote: str
    category_id: int
    description: str
    digits: int
    pip_position: int
    lot_size: int
    min_volume: int
    max_volume: int
    step_volume: int
    price: float
    daily_volatility: float
    spread: int
    ticks_per_minute: int
    leverage_id: int
    commission: float
    swap_long: float
    swap_short: float
    measurement_units: str

    @property
    def points_per_unit(self) -> int:
        """Points (smallest price increments) in one price unit: ``10**digits``."""
        return int(10**self.digits)

    @property
    def wire_factor(self) -> int:
        """Multiply a price in points by this to get the vendor's 1/100000 wire units."""
        return int(10 ** (WIRE_DIGITS - self.digits))


@dataclass(frozen=True, slots=True)
class _ArchivedSpec:
    symbol_id: int
    name: str
    description: str
    archived_at_ms: int


_ASSETS: Final = (
    AssetSpec(1, "EUR", "Euro", 2),
    AssetSpec(2, "USD", "US Dollar", 2),
    AssetSpec(3, "GBP", "British Pound", 2),
    AssetSpec(4, "JPY", "Japanese Yen", 0),
    AssetSpec(5, "AUD", "Australian Dollar", 2),
    AssetSpec(6, "CHF", "Swiss Franc", 2),
    AssetSpec(7, "CAD", "Canadian Dollar", 2),
    AssetSpec(8, "NZD", "New Zealand Dollar", 2),
    AssetSpec(9, "XAU", "Gold", 2),
    AssetSpec(10, "XAG", "Silver", 2),
    AssetSpec(11, "US500", "US 500 Index", 2),
    AssetSpec(12, "US30", "Wall Street 30", 2),
    AssetSpec(13, "DE40", "Germany 40", 2),
    AssetSpec(14, "UK100", "UK 100", 2),
)

_ASSET_CLASSES: Final = ((1, "Forex", 1.0), (2, "Metals", 2.0), (3, "Indices", 3.0))
_CATEGORIES: Final = (
    (1, 1, "Majors", 1.0),
    (2, 1, "Crosses", 2.0),
    (3, 2, "Spot Metals", 3.0),
    (4, 3, "Indices", 4.0),
)

_LOT: Final = 10_000_000  # 100,000 units in cents


def _fx(sid: int, name: str, desc: str, price: float, vol: float, spread: int, **kw: object) -> SymbolSpec:
    digits = 3 if name.endswith("JPY") else 5
    values: dict[str, object] = {
        "symbol_id": sid,
        "name": name,
        "base": name[:3],
        "quote": name[3:],
        "category_id": 1,
        "description": desc,
        "digits": digits,
        "pip_position": digits - 1,
        "lot_size": _LOT,
        "min_volume": 100_000,
        "max_volume": 10_000_000_000,
        "step_volume": 100_000,
        "price": price,
        "daily_volatility": vol,
        "spread": spread,
        "ticks_per_minute": 90,
        "leverage_id": 1,
        "commission": 30.0,
        "swap_long": -6.5,
        "swap_short": 1.8,
        "measurement_units": name[:3],
    }
    values.update(kw)
    return SymbolSpec(**values)  # type: ignore[arg-type]


def _index(sid: int, name: str, quote: str, desc: str, price: float, spread: int) -> SymbolSpec:
    return SymbolSpec(
        symbol_id=sid,
        name=name,
        base=name,
        quote=quote,
        category_id=4,
        description=desc,
        digits=2,
        pip_position=0,
        lot_size=100,
        min_volume=10,
        max_volume=1_000_000,
        step_volume=10,
        price=price,
        daily_volatility=0.009,
        spread=spread,
        ticks_per_minute=70,
        leverage_id=3,
        commission=0.0,
        swap_long=-4.2,
        swap_short=-1.1,
        measurement_units="Contracts",
    )


DEFAULT_SYMBOLS: Final = (
    _fx(1, "EURUSD", "Euro vs US Dollar", 1.085, 0.005, 2),
    _fx(2, "GBPUSD", "British Pound vs US Dollar", 1.265, 0.006, 3),
    _fx(4, "USDJPY", "US Dollar vs Japanese Yen", 151.5, 0.006, 3),
    _fx(5, "AUDUSD", "Australian Dollar vs US Dollar", 0.658, 0.007, 3),
    _fx(6, "USDCHF", "US Dollar vs Swiss Franc", 0.882, 0.005, 3),
    _fx(8, "USDCAD", "US Dollar vs Canadian Dollar", 1.362, 0.004, 3),
    _fx(9, "EURGBP", "Euro vs British Pound", 0.858, 0.004, 4, category_id=2),
    _fx(12, "NZDUSD", "New Zealand Dollar vs US Dollar", 0.605, 0.007, 4),
    SymbolSpec(
        symbol_id=41,
        name="XAUUSD",
        base="XAU",
        quote="USD",
        category_id=3,
        description="Gold vs US Dollar",
        digits=2,
        pip_position=1,
        lot_size=10_000,
        min_volume=100,
        max_volume=10_000_000,
        step_volume=100,
        price=2350.0,
        daily_volatility=0.009,
        spread=25,
        ticks_per_minute=120,
        leverage_id=2,
        commission=30.0,
        swap_long=-45.0,
        swap_short=12.0,
        measurement_units="Ounces",
    ),
    SymbolSpec(
        symbol_id=42,
        name="XAGUSD",
        base="XAG",
        quote="USD",
        category_id=3,
        description="Silver vs US Dollar",
        digits=3,
        pip_position=2,
        lot_size=500_000,
        min_volume=100,
        max_volume=50_000_000,
        step_volume=100,
        price=28.0,
        daily_volatility=0.015,
        spread=20,
        ticks_per_minute=80,
        leverage_id=2,
        commission=30.0,
        swap_long=-3.5,
        swap_short=0.9,
        measurement_units="Ounces",
    ),
    _index(100, "US500", "USD", "US 500 Index", 5300.0, 50),
    _index(101, "US30", "USD", "Wall Street 30 Index", 39000.0, 200),
    _index(102, "DE40", "EUR", "Germany 40 Index", 18500.0, 100),
    _index(103, "UK100", "GBP", "UK 100 Index", 8200.0, 100),
)

_ARCHIVED: Final = (
    _ArchivedSpec(90, "DE30", "Germany 30 Index (renamed DE40)", 1_632_096_000_000),
    _ArchivedSpec(91, "USDRUB", "US Dollar vs Russian Rouble", 1_646_092_800_000),
)

#: Dynamic leverage entities: (leverage id, ((max USD volume in cents, leverage), ...)).
_LEVERAGES: Final = (
    (1, ((100_000_000, 500), (500_000_000, 200), (10_000_000_000, 100))),
    (2, ((50_000_000, 200), (1_000_000_000, 50))),
    (3, ((100_000_000, 100), (1_000_000_000, 20))),
)

#: The whole week in seconds from Sunday 00:00: the sandbox's market never closes.
_WEEK_SECONDS: Final = 7 * 24 * 3600


class Catalogue:
    """The assets, asset classes, categories, symbols and leverage entities of the sandbox."""

    def __init__(self) -> None:
        self.assets: dict[int, AssetSpec] = {a.asset_id: a for a in _ASSETS}
        self.asset_by_name: dict[str, AssetSpec] = {a.name: a for a in _ASSETS}
        self.symbols: dict[int, SymbolSpec] = {s.symbol_id: s for s in DEFAULT_SYMBOLS}
        self.archived: dict[int, _ArchivedSpec] = {a.symbol_id: a for a in _ARCHIVED}
        self.leverages: dict[int, tuple[tuple[int, int], ...]] = dict(_LEVERAGES)
        self._chains: dict[tuple[str, str], tuple[tuple[SymbolSpec, bool], ...] | None] = {}

    def light_symbol(self, spec: SymbolSpec) -> ProtoOALightSymbol:
        """The symbol as listed by ``ProtoOASymbolsListRes``, named as cTrader brokers name them (EURUSD)."""
        return ProtoOALightSymbol(
            symbol_id=spec.symbol_id,
            symbol_name=spec.name,
            enabled=True,
            base_asset_id=self.asset_by_name[spec.base].asset_id,
            quote_asset_id=self.asset_by_name[spec.quote].asset_id,
            symbol_category_id=spec.category_id,
            description=spec.description,
            sorting_number=float(spec.symbol_id),
        )

    def full_symbol(self, spec: SymbolSpec) -> ProtoOASymbol:
        """The symbol with the full set of fields, as answered by ``ProtoOASymbolByIdRes``."""
        fx_like = spec.commission > 0
        return ProtoOASymbol(
            symbol_id=spec.symbol_id,
            digits=spec.digits,
            pip_position=spec.pip_position,
            enable_short_selling=True,
            guaranteed_stop_loss=False,
            swap_rollover3_days=ProtoOADayOfWeek.WEDNESDAY,
            swap_long=spec.swap_long,
            swap_short=spec.swap_short,
            max_volume=spec.max_volume,
            min_volume=spec.min_volume,
            step_volume=spec.step_volume,
            max_exposure=spec.max_volume * 10,
            schedule=[ProtoOAInterval(start_second=0, end_second=_WEEK_SECONDS)],
            commission_type=(
                ProtoOACommissionType.USD_PER_MILLION_USD if fx_like else ProtoOACommissionType.USD_PER_LOT
            ),
            sl_distance=0,
            tp_distance=0,
            distance_set_in=ProtoOASymbolDistanceType.SYMBOL_DISTANCE_IN_POINTS,
            schedule_time_zone="UTC",
            trading_mode=ProtoOATradingMode.ENABLED,
            rollover_commission3_days=ProtoOADayOfWeek.WEDNESDAY,
            swap_calculation_type=ProtoOASwapCalculationType.PIPS,
            lot_size=spec.lot_size,
            precise_trading_commission_rate=round(spec.commission * 10**8),
            precise_min_commission=0,
            holiday=[],
            pnl_conversion_fee_rate=0,
            leverage_id=spec.leverage_id,
            swap_period=24,
            swap_time=1320,
            skip_swap_periods=0,
            charge_swap_at_weekends=False,
            measurement_units=spec.measurement_units,
        )

    def archived_symbol(self, symbol_id: int) -> ProtoOAArchivedSymbol:
        """An archived (no longer tradable) symbol."""
        spec = self.archived[symbol_id]
        return ProtoOAArchivedSymbol(
            symbol_id=spec.symbol_id,
            name=spec.name,
            utc_last_update_timestamp=spec.archived_at_ms,
            description=spec.description,
        )

    def asset_messages(self) -> list[ProtoOAAsset]:
        """Every asset."""
        return [
            ProtoOAAsset(asset_id=a.asset_id, name=a.name, display_name=a.display_name, digits=a.digits)
            for a in self.assets.values()
        ]

    def asset_class_messages(self) -> list[ProtoOAAssetClass]:
        """Every asset class."""
        return [ProtoOAAssetClass(id=i, name=n, sorting_number=s) for i, n, s in _ASSET_CLASSES]

    def category_messages(self) -> list[ProtoOASymbolCategory]:
        """Every symbol category."""
        return [
            ProtoOASymbolCategory(id=i, asset_class_id=c, name=n, sorting_number=s)
            for i, c, n, s in _CATEGORIES
        ]

    def leverage_message(self, leverage_id: int) -> ProtoOADynamicLeverage | None:
        """The dynamic leverage entity ``leverage_id``, or ``None`` when there is none."""
        tiers = self.leverages.get(leverage_id)
        if tiers is None:
            return None
        return ProtoOADynamicLeverage(
            leverage_id=leverage_id,
            tiers=[ProtoOADynamicLeverageTier(volume=v, leverage=lev) for v, lev in tiers],
        )

    def leverage_for(self, spec: SymbolSpec, usd_volume_cents: int) -> int:
        """The symbol's dynamic leverage for a position of ``usd_volume_cents`` notional."""
        tiers = self.leverages[spec.leverage_id]
        for volume, leverage in tiers:
            if usd_volume_cents <= volume:
                return leverage
        return tiers[-1][1]

    def conversion_chain(self, first: str, last: str) -> tuple[tuple[SymbolSpec, bool], ...] | None:
        """The shortest chain of symbols converting asset ``first`` into ``last``.

        Returns:
            ``(symbol, inverted)`` pairs: multiply by the symbol's price, or divide when ``inverted``;
            an empty tuple when the assets are the same; ``None`` when no chain exists.
        """
        key = (first, last)
        if key in self._chains:
            return self._chains[key]
        chain: tuple[tuple[SymbolSpec, bool], ...] | None = None
        if first == last:
            chain = ()
        else:
            queue: deque[str] = deque([first])
            previous: dict[str, tuple[str, SymbolSpec, bool]] = {}
            seen = {first}
            while queue and last not in seen:
                asset = queue.popleft()
                for spec in self.symbols.values():
                    for src, dst, inverted in ((spec.base, spec.quote, False), (spec.quote, spec.base, True)):
                        if src == asset and dst not in seen:
                            seen.add(dst)
                            previous[dst] = (asset, spec, inverted)
                            queue.append(dst)
            if last in seen:
                steps: list[tuple[SymbolSpec, bool]] = []
                node = last
                while node != first:
                    node, spec, inverted = previous[node]
                    steps.append((spec, inverted))
                chain = tuple(reversed(steps))
        self._chains[key] = chain
        return chain


# ---------------------------------------------------------------------------------------------
# Feed


class Quote(NamedTuple):
    """A bid/ask pair in the vendor's wire units (1/100000 of a price unit)."""

    bid: int
    ask: int


class Bar(NamedTuple):
    """An OHLC bar on the bid, in points (10**-digits), with its tick volume and open time (ms)."""

    start: int
    open: int
    high: int
    low: int
    close: int
    volume: int


# (open, high, low, close, volume) of one segment, in points.
_Seg = tuple[int, int, int, int, int]

#: Trendbar periods measured in minutes (W1 and MN1 are calendar periods).
_PERIOD_MINUTES: Final = {
    ProtoOATrendbarPeriod.M1: 1,
    ProtoOATrendbarPeriod.M2: 2,
    ProtoOATrendbarPeriod.M3: 3,
    ProtoOATrendbarPeriod.M4: 4,
    ProtoOATrendbarPeriod.M5: 5,
    ProtoOATrendbarPeriod.M10: 10,
    ProtoOATrendbarPeriod.M15: 15,
    ProtoOATrendbarPeriod.M30: 30,
    ProtoOATrendbarPeriod.H1: 60,
    ProtoOATrendbarPeriod.H4: 240,
    ProtoOATrendbarPeriod.H12: 720,
    ProtoOATrendbarPeriod.D1: 1440,
}


def _key(seed: int, symbol_id: int, level: int, index: int) -> int:
    """A distinct integer RNG seed per (seed, symbol, level, index); ``random.Random(int)`` is stable
    across Python versions and platforms."""
    return ((seed & _M64) << 136) | ((symbol_id & _M64) << 72) | ((level & 0xFF) << 64) | (index & _M64)


def _path(rng: random.Random, o: int, h: int, lo_: int, c: int, n: int, step: float) -> list[int]:
    """A seeded path of ``n`` steps from ``o`` to ``c`` whose maximum is exactly ``h`` and minimum ``lo_``.

    A random bridge (uniform steps of standard deviation ``step``) is stretched above ``max(o, c)``
    and below ``min(o, c)`` so that its extreme interior points land on ``h`` and ``lo_``. Needs
    ``n >= 3`` (two interior points) and ``lo_ <= min(o, c) <= max(o, c) <= h``.
    """
    scale = step * _SQRT3
    walk = [0.0] * (n + 1)
    acc = 0.0
    for i in range(1, n + 1):
        acc += (2.0 * rng.random() - 1.0) * scale
        walk[i] = acc
    slope = (c - o - acc) / n
    raw = [o + walk[i] + slope * i for i in range(n + 1)]
    imax = max(range(1, n), key=raw.__getitem__)
    imin = min(range(1, n), key=raw.__getitem__)
    if imin == imax:
        imin = 2 if imax == 1 else 1
    hi, lo = (o, c) if o > c else (c, o)
    top, bottom = max(raw[imax], hi), min(raw[imin], lo)
    up = (h - hi) / (top - hi) if top > hi else 0.0
    down = (lo - lo_) / (lo - bottom) if bottom < lo else 0.0
    out = [o] * (n + 1)
    for i in range(1, n):
        v = raw[i]
        if v > hi:
            v = hi + (v - hi) * up
        elif v < lo:
            v = lo - (lo - v) * down
        out[i] = min(h, max(lo_, round(v)))
    out[imax] = h
    out[imin] = lo_
    out[n] = c
    return out


def _split(total: int, n: int, rng: random.Random) -> list[int]:
    """Split ``total`` into ``n`` seeded, uneven integer shares that add up exactly."""
    weights = [0.5 + rng.random() for _ in range(n)]
    scale = total / sum(weights)
    shares = [int(w * scale) for w in weights]
    for i in range(total - sum(shares)):
        shares[i % n] += 1
    return shares


def _children(rng: random.Random, parent: _Seg, n: int, step: float, excursion: float) -> list[_Seg]:
    """Split a segment into ``n`` child segments that aggregate exactly to it (see module docstring)."""
    o, h, lo_, c, v = parent
    bounds = _path(rng, o, h, lo_, c, n, step)
    volumes = _split(v, n, rng)
    out: list[_Seg] = []
    for k in range(n):
        co, cc = bounds[k], bounds[k + 1]
        hi, lo = (co, cc) if co > cc else (cc, co)
        ch = min(h, hi + int(rng.random() ** 2 * excursion))
        cl = max(lo_, lo - int(rng.random() ** 2 * excursion))
        out.append((co, ch, cl, cc, volumes[k]))
    return out


class _DayWalk:
    """Daily opens, range excursions and volumes of one symbol, generated on demand and cached.

    The log price is an Ornstein-Uhlenbeck process around the reference price (so prices stay
    realistic over decades), pinned to the reference price on :data:`_ANCHOR_DAY`. Days after it come
    from one seeded stream, days before it from another, each generated sequentially: day ``d`` is the
    same whoever asks first, and a request about recent history never generates the 1970s.
    """

    def __init__(self, key: int, spec: SymbolSpec) -> None:
        self._ref = spec.price * spec.points_per_unit
        self._vol = spec.daily_volatility
        self._day_volume = spec.ticks_per_minute * 1440
        # [0] walks forward from the anchor day, [1] backward from the day before it.
        self._rngs = (random.Random(key), random.Random(key + 1))
        self._x = [0.0, 0.0]
        self._rows: tuple[list[tuple[int, int, int, int]], list[tuple[int, int, int, int]]] = ([], [])

    def row(self, day: int) -> tuple[int, int, int, int]:
        """(open, up excursion, down excursion, volume) of ``day`` (days since the epoch)."""
        direction, index = (0, day - _ANCHOR_DAY) if day >= _ANCHOR_DAY else (1, _ANCHOR_DAY - 1 - day)
        rows = self._rows[direction]
        if index >= len(rows):
            rng = self._rngs[direction]
            x = self._x[direction]
            vol, ref = self._vol, self._ref
            while len(rows) <= index:
                x += -_REVERSION * x + rng.gauss(0.0, vol)
                open_ = max(1, round(ref * math.exp(x)))
                sd = vol * open_
                up = int(-math.log(1.0 - rng.random()) * 0.3 * sd)
                down = int(-math.log(1.0 - rng.random()) * 0.3 * sd)
                rows.append((open_, up, down, int(self._day_volume * (0.6 + 0.8 * rng.random()))))
            self._x[direction] = x
        return rows[index]


#: The day the daily walk is pinned to its reference price: 2020-01-01.
_ANCHOR_DAY: Final = 18262


@functools.lru_cache(maxsize=256)
def _day_walk(seed: int, spec: SymbolSpec) -> _DayWalk:
    """The daily walk of ``spec`` for ``seed``, shared by every feed (it is a pure function of both)."""
    return _DayWalk(_key(seed, spec.symbol_id, 0, 0), spec)


class _SymbolFeed:
    """Every price of one symbol, in points, computed on demand and cached by segment."""

    def __init__(self, spec: SymbolSpec, seed: int, tick_ms: int) -> None:
        self.spec = spec
        self._seed = seed
        self.tick_ms = tick_ms
        self.ticks_per_minute = MINUTE_MS // tick_ms
        self._days = _day_walk(seed, spec)
        self._hours: OrderedDict[int, list[_Seg]] = OrderedDict()
        self._minutes: OrderedDict[int, list[_Seg]] = OrderedDict()
        self._ticks: OrderedDict[int, tuple[array[int], array[int]]] = OrderedDict()

    def _rng(self, level: int, index: int) -> random.Random:
        return random.Random(_key(self._seed, self.spec.symbol_id, level, index))

    def day(self, d: int) -> _Seg:
        """The day ``d`` (days since the epoch) as (open, high, low, close, volume)."""
        o, up, down, volume = self._days.row(d)
        c = self._days.row(d + 1)[0]
        hi, lo = (o, c) if o > c else (c, o)
        return (o, hi + up, max(1, lo - down), c, volume)

    def hours(self, d: int) -> list[_Seg]:
        """The 24 hours of day ``d``."""
        cached = self._hours.get(d)
        if cached is None:
            parent = self.day(d)
            sd = self.spec.daily_volatility * parent[0]
            cached = _children(self._rng(1, d), parent, 24, sd / math.sqrt(24), 0.8 * sd / math.sqrt(24))
            _remember(self._hours, d, cached, 512)
        return cached

    def hour(self, h: int) -> _Seg:
        """The hour ``h`` (hours since the epoch)."""
        return self.hours(h // 24)[h % 24]

    def minutes(self, h: int) -> list[_Seg]:
        """The 60 minutes of hour ``h``."""
        cached = self._minutes.get(h)
        if cached is None:
            parent = self.hour(h)
            sd = self.spec.daily_volatility * parent[0] / math.sqrt(1440)
            cached = _children(self._rng(2, h), parent, 60, sd, 0.8 * sd)
            _remember(self._minutes, h, cached, 2048)
        return cached

    def minute(self, m: int) -> _Seg:
        """The minute ``m`` (minutes since the epoch)."""
        return self.minutes(m // 60)[m % 60]

    def ticks(self, m: int) -> tuple[array[int], array[int]]:
        """Bids and spreads (points) of the tick slots of minute ``m``, oldest first."""
        cached = self._ticks.get(m)
        if cached is None:
            o, h, lo, c, _ = self.minute(m)
            n = self.ticks_per_minute
            rng = self._rng(3, m)
            step = self.spec.daily_volatility * o / math.sqrt(1440 * n)
            bids = array("q", _path(rng, o, h, lo, c, n - 1, step))
            base = self.spec.spread
            spreads = array(
                "q", [max(1, base + int(rng.random() ** 6 * 3 * base) - base // 4) for _ in range(n)]
            )
            cached = (bids, spreads)
            _remember(self._ticks, m, cached, 256)
        return cached

    def quote(self, t: int) -> tuple[int, int]:
        """Bid and ask (points) at instant ``t`` (ms): the tick slot containing it."""
        m, r = divmod(t, MINUTE_MS)
        bids, spreads = self.ticks(m)
        j = r // self.tick_ms
        return bids[j], bids[j] + spreads[j]

    def aggregate(self, start: int, end: int) -> _Seg | None:
        """OHLC and volume over the ticks in ``[start, end)``, or ``None`` when no tick slot is in it.

        Whole days, hours and minutes come from their cached segments; only a partial minute at either
        end is read tick by tick, so any range costs a few dozen segment lookups.
        """
        pieces: list[_Seg] = []
        t = start
        while t < end:
            if t % DAY_MS == 0 and t + DAY_MS <= end:
                pieces.append(self.day(t // DAY_MS))
                t += DAY_MS
            elif t % HOUR_MS == 0 and t + HOUR_MS <= end:
                pieces.append(self.hour(t // HOUR_MS))
                t += HOUR_MS
            elif t % MINUTE_MS == 0 and t + MINUTE_MS <= end:
                pieces.append(self.minute(t // MINUTE_MS))
                t += MINUTE_MS
            else:
                minute_start = t - t % MINUTE_MS
                stop = min(end, minute_start + MINUTE_MS)
                first = -(-(t - minute_start) // self.tick_ms)
                last = -(-(stop - minute_start) // self.tick_ms)
                if first < last:
                    bids, _ = self.ticks(minute_start // MINUTE_MS)
                    part = bids[first:last]
                    volume = self.minute(minute_start // MINUTE_MS)[4] * len(part) // self.ticks_per_minute
                    pieces.append((part[0], max(part), min(part), part[-1], volume))
                t = stop
        if not pieces:
            return None
        return (
            pieces[0][0],
            max(p[1] for p in pieces),
            min(p[2] for p in pieces),
            pieces[-1][3],
            sum(p[4] for p in pieces),
        )


def _remember(cache: OrderedDict[int, _V], key: int, value: _V, size: int) -> None:
    cache[key] = value
    if len(cache) > size:
        cache.popitem(last=False)


def _month_start(t: int) -> int:
    dt = datetime.fromtimestamp(t // 1000, tz=timezone.utc)
    return int(datetime(dt.year, dt.month, 1, tzinfo=timezone.utc).timestamp()) * 1000


def _add_months(start: int, months: int) -> int:
    dt = datetime.fromtimestamp(start // 1000, tz=timezone.utc)
    index = dt.year * 12 + dt.month - 1 + months
    return int(datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc).timestamp()) * 1000


def bar_start(period: ProtoOATrendbarPeriod, t: int) -> int:
    """Open time (ms) of the bar of ``period`` that contains instant ``t``."""
    minutes = _PERIOD_MINUTES.get(period)
    if minutes is not None:
        return t - t % (minutes * MINUTE_MS)
    if period == ProtoOATrendbarPeriod.W1:
        return t - (t - _FIRST_SUNDAY_MS) % WEEK_MS
    return _month_start(t)


def bar_shift(period: ProtoOATrendbarPeriod, start: int, bars: int) -> int:
    """Open time of the bar ``bars`` periods after (or before, when negative) the bar opening at ``start``."""
    minutes = _PERIOD_MINUTES.get(period)
    if minutes is not None:
        return start + bars * minutes * MINUTE_MS
    if period == ProtoOATrendbarPeriod.W1:
        return start + bars * WEEK_MS
    return _add_months(start, bars)


class PriceFeed:
    """The seeded price feed of every symbol of a :class:`Catalogue`.

    Args:
        catalogue: the symbols to quote.
        seed: the feed's seed; equal seeds give equal prices at equal instants.
        tick_interval_ms: the tick grid (a divisor of one minute).
    """

    def __init__(self, catalogue: Catalogue, seed: int, tick_interval_ms: int) -> None:
        self.catalogue = catalogue
        self.seed = seed
        self.tick_ms = tick_interval_ms
        self._feeds = {
            sid: _SymbolFeed(spec, seed, tick_interval_ms) for sid, spec in catalogue.symbols.items()
        }

    def slot(self, t: int) -> int:
        """The start (ms) of the tick slot containing instant ``t``."""
        return t - t % self.tick_ms

    def quote(self, symbol_id: int, t: int) -> Quote:
        """Bid and ask in wire units at instant ``t`` (ms)."""
        feed = self._feeds[symbol_id]
        bid, ask = feed.quote(t)
        factor = feed.spec.wire_factor
        return Quote(bid * factor, ask * factor)

    def price(self, symbol_id: int, t: int, side: str = "mid") -> float:
        """The price at ``t`` in price units: ``"bid"``, ``"ask"`` or ``"mid"``."""
        feed = self._feeds[symbol_id]
        bid, ask = feed.quote(t)
        points = bid if side == "bid" else ask if side == "ask" else (bid + ask) / 2
        return points / feed.spec.points_per_unit

    def rate(self, first: str, last: str, t: int) -> float:
        """Mid-price conversion rate from asset ``first`` to asset ``last`` at ``t``.

        Raises:
            KeyError: no chain of symbols converts the two assets.
        """
        chain = self.catalogue.conversion_chain(first, last)
        if chain is None:
            raise KeyError(f"no conversion from {first} to {last}")
        rate = 1.0
        for spec, inverted in chain:
            mid = self.price(spec.symbol_id, t)
            rate = rate / mid if inverted else rate * mid
        return rate

    def session_close(self, symbol_id: int, t: int) -> int:
        """The previous day's close in wire units (the vendor's ``sessionClose``)."""
        feed = self._feeds[symbol_id]
        return feed.day(t // DAY_MS - 1)[3] * feed.spec.wire_factor

    def bar(self, symbol_id: int, period: ProtoOATrendbarPeriod, start: int, end: int) -> Bar | None:
        """The bar of ``period`` opening at ``start``, over its ticks before ``end`` (exclusive)."""
        stop = min(end, bar_shift(period, start, 1))
        seg = self._feeds[symbol_id].aggregate(start, stop)
        return None if seg is None else Bar(start, *seg)

    def trendbar(self, symbol_id: int, period: ProtoOATrendbarPeriod, bar: Bar) -> ProtoOATrendbar:
        """``bar`` in the vendor's encoding: low plus deltas, in wire units, and the open time in minutes."""
        factor = self._feeds[symbol_id].spec.wire_factor
        return ProtoOATrendbar(
            volume=bar.volume,
            period=period,
            low=bar.low * factor,
            delta_open=(bar.open - bar.low) * factor,
            delta_close=(bar.close - bar.low) * factor,
            delta_high=(bar.high - bar.low) * factor,
            utc_timestamp_in_minutes=bar.start // MINUTE_MS,
        )

    def trendbars(
        self,
        symbol_id: int,
        period: ProtoOATrendbarPeriod,
        from_ms: int,
        end_ms: int,
        count: int | None,
        limit: int,
    ) -> tuple[list[Bar], bool]:
        """The bars opening in ``[from_ms, end_ms)``, newest ``min(count, limit)`` of them, oldest first.

        ``end_ms`` must not be in the future: the last bar is then the forming one, cut at ``end_ms``.

        Returns:
            The bars and whether more bars matched than ``limit`` allowed (the vendor's ``hasMore``).
        """
        wanted = limit if count is None else min(count, limit)
        bars: list[Bar] = []
        if end_ms <= from_ms or wanted <= 0:
            return bars, False
        start = bar_start(period, end_ms - 1)
        while start >= from_ms and len(bars) < wanted:
            bar = self.bar(symbol_id, period, start, end_ms)
            if bar is not None:
                bars.append(bar)
            start = bar_shift(period, start, -1)
        has_more = len(bars) == limit and (count is None or count > limit) and start >= from_ms
        bars.reverse()
        return bars, has_more

    def ticks(
        self, symbol_id: int, ask: bool, from_ms: int, end_ms: int, limit: int
    ) -> tuple[list[tuple[int, int]], bool]:
        """Ticks in ``[from_ms, end_ms)``, newest first: the slots where the quoted side changed.

        Returns:
            ``(timestamp ms, price in wire units)`` pairs and whether more ticks matched than ``limit``.
        """
        feed = self._feeds[symbol_id]
        factor = feed.spec.wire_factor
        out: list[tuple[int, int]] = []
        for t, price, previous in self._slots_backward(feed, ask, end_ms - 1):
            if t < from_ms:
                return out, False
            if price != previous:
                if len(out) == limit:
                    return out, True
                out.append((t, price * factor))
        return out, False  # pragma: no cover - the slots run back to the epoch

    @staticmethod
    def _slots_backward(feed: _SymbolFeed, ask: bool, t: int) -> Iterator[tuple[int, int, int]]:
        """Tick slots from the one containing ``t`` backward: (time, price, previous slot's price)."""
        m, r = divmod(t, MINUTE_MS)
        j = r // feed.tick_ms

        def values(minute: int) -> array[int]:
            bids, spreads = feed.ticks(minute)
            return array("q", (b + s for b, s in zip(bids, spreads, strict=True))) if ask else bids

        current = values(m)
        while m >= 0:
            previous_minute = values(m - 1) if m > 0 else current
            while j >= 0:
                before = current[j - 1] if j > 0 else previous_minute[-1]
                yield m * MINUTE_MS + j * feed.tick_ms, current[j], before
                j -= 1
            current = previous_minute
            m -= 1
            j = feed.ticks_per_minute - 1

    def depth(self, symbol_id: int, t: int, levels: int) -> dict[int, tuple[int, int | None, int | None]]:
        """The depth of market at ``t``: quote id → (size in cents, bid, ask) in wire units.

        ``levels`` price levels per side, one point apart beyond the best bid and ask; sizes are seeded
        per tick slot. A quote id identifies a side and price, so a size change updates the same id.
        """
        feed = self._feeds[symbol_id]
        spec = feed.spec
        bid, ask = feed.quote(t)
        step = max(1, spec.spread // 2)
        rng = random.Random(_key(self.seed, symbol_id, 4, t // self.tick_ms))
        unit = max(spec.min_volume, spec.lot_size // 10)
        book: dict[int, tuple[int, int | None, int | None]] = {}
        for level in range(levels):
            b = (bid - level * step) * spec.wire_factor
            a = (ask + level * step) * spec.wire_factor
            book[b * 2] = (unit * (1 + int(rng.random() * 40)), b, None)
            book[a * 2 + 1] = (unit * (1 + int(rng.random() * 40)), None, a)
        return book
