"""The market clock: what happens on every tick, and the streamed events.

Every ``tick_interval_ms`` the clock lets the broker act on the new prices (pending orders, stops,
expiry) and sends each subscription its news: a ``ProtoOASpotEvent`` when the quote changed (with
the forming bar of every live trendbar subscription), a ``ProtoOADepthEvent`` with the quotes that
appeared, changed or went away, and a ``ProtoOAv1PnLChangeEvent`` when the unrealized PnL moved.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ctrader_sdk._envelope import encode_envelope
from ctrader_sdk._framing import encode_frame
from ctrader_sdk.messages import (
    ProtoOADepthEvent,
    ProtoOADepthQuote,
    ProtoOASpotEvent,
    ProtoOATrendbar,
    ProtoOATrendbarPeriod,
    ProtoOAv1PnLChangeEvent,
)
from ctrader_sdk.sandbox._connection import AccountSession
from ctrader_sdk.sandbox._market import bar_start

if TYPE_CHECKING:
    from ctrader_sdk.sandbox._server import Sandbox

__all__ = ["Streams"]

logger = logging.getLogger("ctrader_sdk.sandbox")

#: ``push_spots`` encodes and writes its events in chunks of this many.
_BURST_CHUNK = 1024


class Streams:
    """Builds streamed events and runs the market clock.

    Args:
        sandbox: the server whose connections and sessions are served.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self._bars: dict[tuple[int, ProtoOATrendbarPeriod, int], ProtoOATrendbar | None] = {}

    # -----------------------------------------------------------------------------------------
    # Event builders

    def _live_bar(self, symbol_id: int, period: ProtoOATrendbarPeriod, slot: int) -> ProtoOATrendbar | None:
        """The forming bar of ``period`` up to and including tick slot ``slot`` (cached for the tick)."""
        key = (symbol_id, period, slot)
        if key not in self._bars:
            feed = self._sb.feed
            bar = feed.bar(symbol_id, period, bar_start(period, slot), slot + feed.tick_ms)
            self._bars[key] = None if bar is None else feed.trendbar(symbol_id, period, bar)
        return self._bars[key]

    def spot_event(
        self, session: AccountSession, symbol_id: int, now: int, *, force: bool = False
    ) -> ProtoOASpotEvent | None:
        """The spot event of a subscription at ``now``, or ``None`` when the quote did not change.

        With ``spot_omit_unchanged`` (the vendor's behaviour) a side that did not change is left out;
        ``force`` sends both sides, as the first event after subscribing does.
        """
        sb = self._sb
        sub = session.spots[symbol_id]
        slot = sb.feed.slot(now)
        quote = sb.feed.quote(symbol_id, slot)
        omit = sb.config.spot_omit_unchanged and not force
        bid = None if omit and quote.bid == sub.bid else quote.bid
        ask = None if omit and quote.ask == sub.ask else quote.ask
        if bid is None and ask is None and not force:
            return None
        sub.bid, sub.ask = quote.bid, quote.ask
        bars = [
            bar
            for sid, period in sorted(session.trendbars)
            if sid == symbol_id and (bar := self._live_bar(symbol_id, period, slot)) is not None
        ]
        return ProtoOASpotEvent(
            ctid_trader_account_id=session.account.account_id,
            symbol_id=symbol_id,
            bid=bid,
            ask=ask,
            trendbar=bars,
            session_close=sb.feed.session_close(symbol_id, slot),
            timestamp=slot if sub.timestamp else None,
        )

    def depth_event(self, session: AccountSession, symbol_id: int, now: int) -> ProtoOADepthEvent | None:
        """The depth changes since the book last sent to the session, or ``None`` when there are none."""
        sb = self._sb
        book = sb.feed.depth(symbol_id, sb.feed.slot(now), sb.config.depth_levels)
        last = session.depth[symbol_id]
        new = [
            ProtoOADepthQuote(id=quote_id, size=size, bid=bid, ask=ask)
            for quote_id, (size, bid, ask) in book.items()
            if last.get(quote_id) != (size, bid, ask)
        ]
        deleted = [quote_id for quote_id in last if quote_id not in book]
        session.depth[symbol_id] = book
        if not new and not deleted:
            return None
        return ProtoOADepthEvent(
            ctid_trader_account_id=session.account.account_id,
            symbol_id=symbol_id,
            new_quotes=new,
            deleted_quotes=deleted,
        )

    def pnl_event(
        self, session: AccountSession, now: int, *, force: bool = False
    ) -> ProtoOAv1PnLChangeEvent | None:
        """The account's unrealized PnL if it changed since last sent (always with ``force``)."""
        account = session.account
        pnl = self._sb.broker.unrealized(account, self._sb.feed.slot(now))
        totals = (sum(g for _, g, _ in pnl), sum(n for _, _, n in pnl))
        if totals == session.pnl and not force:
            return None
        session.pnl = totals
        return ProtoOAv1PnLChangeEvent(
            ctid_trader_account_id=account.account_id,
            gross_unrealized_pnl=totals[0],
            net_unrealized_pnl=totals[1],
            money_digits=account.money_digits,
        )

    # -----------------------------------------------------------------------------------------
    # The clock

    async def run(self) -> None:
        """Tick until cancelled: at every slot of the tick grid, call :meth:`tick`."""
        sb = self._sb
        tick = sb.feed.tick_ms
        while True:
            now = sb.now_ms()
            await asyncio.sleep((tick - now % tick) / 1000)
            try:
                self.tick(sb.feed.slot(sb.now_ms()))
            except Exception:  # pragma: no cover - a bug must not stop the market
                logger.exception("sandbox market tick failed")

    def tick(self, slot: int) -> None:
        """Apply the market at tick slot ``slot`` and stream the news to every subscription."""
        sb = self._sb
        self._bars.clear()
        for account, event in sb.broker.on_tick(slot):
            sb.publish(account, event)
        if sb.faults.blackholed:
            return
        for conn in sb.connections():
            for session in conn.sessions_where(lambda s: bool(s.spots or s.depth or s.pnl_subscribed)):
                for symbol_id in list(session.spots):
                    spot = self.spot_event(session, symbol_id, slot)
                    if spot is not None and not conn.send(spot, market_data=True):
                        sub = session.spots[symbol_id]
                        sub.bid = sub.ask = None  # not delivered: the next event carries both sides
                for symbol_id in list(session.depth):
                    depth = self.depth_event(session, symbol_id, slot)
                    if depth is not None and not conn.send(depth, market_data=True):
                        session.depth[symbol_id] = {}
                if session.pnl_subscribed:
                    pnl = self.pnl_event(session, slot)
                    if pnl is not None and not conn.send(pnl, market_data=True):
                        session.pnl = None

    async def push_spots(self, account_id: int, symbol_id: int, count: int) -> int:
        """Send ``count`` spot events of ``symbol_id`` at once to every connection where
        ``account_id`` is authorised and subscribed to that symbol.

        The events are the feed's quotes of the ``count`` tick slots up to now, oldest first, each
        with both sides (and ``timestamp`` when the subscription asked for it).

        Returns:
            How many events were queued in total.
        """
        sb = self._sb
        feed = sb.feed
        last_slot = feed.slot(sb.now_ms())
        sent = 0
        for conn in sb.connections():
            session = conn.active_sessions(account_id)
            if session is None or symbol_id not in session.spots:
                continue
            sub = session.spots[symbol_id]
            # Encode first (yielding between chunks), then write as fast as the socket takes it, so
            # the burst measures the client and not the sandbox's encoder.
            chunks: list[list[bytes]] = []
            quote = None
            for first in range(0, count, _BURST_CHUNK):
                chunk = []
                for i in range(first, min(count, first + _BURST_CHUNK)):
                    t = last_slot - (count - 1 - i) * feed.tick_ms
                    quote = feed.quote(symbol_id, t)
                    event = ProtoOASpotEvent(
                        ctid_trader_account_id=account_id,
                        symbol_id=symbol_id,
                        bid=quote.bid,
                        ask=quote.ask,
                        session_close=feed.session_close(symbol_id, t),
                        timestamp=t if sub.timestamp else None,
                    )
                    chunk.append(encode_frame(encode_envelope(event)))
                chunks.append(chunk)
                await asyncio.sleep(0)
            for chunk in chunks:
                queued = conn.send_frames(chunk, ProtoOASpotEvent.PAYLOAD_TYPE)
                sent += queued
                await conn.drain()
                if queued < len(chunk):
                    break
            if quote is not None and sent:
                sub.bid, sub.ask = quote.bid, quote.ask
        return sent
