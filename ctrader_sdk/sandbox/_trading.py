"""Accounts, orders, positions and deals: the vendor's trading semantics, without I/O.

The :class:`Broker` validates each trading request the way the vendor documents it, mutates the
account state and returns the ``ProtoOAExecutionEvent`` messages to publish; a refused request raises
:class:`TradingError`, which the server turns into ``ProtoOAOrderErrorEvent``. Every method takes
the current time, so the whole module is deterministic and testable without a clock.

Accounts are hedged (every order opens its own position unless it names one). Prices come from the
:class:`~ctrader_sdk.sandbox._market.PriceFeed`: a buy fills at the ask and a sell at the bid of the
current tick; profits are converted to the deposit currency through the catalogue's symbols.
Commission is charged per side from the symbol's USD-per-million rate; swaps are not charged.
Pending orders, stop losses, take profits, trailing stops and good-till-date expiry are checked on
every tick by :meth:`Broker.on_tick`.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

from ctrader_sdk._wire import Message
from ctrader_sdk.messages import (
    ProtoOAAccessRights,
    ProtoOAAccountType,
    ProtoOAChangeBalanceType,
    ProtoOAClosePositionDetail,
    ProtoOADeal,
    ProtoOADealOffset,
    ProtoOADealStatus,
    ProtoOADepositWithdraw,
    ProtoOAErrorCode,
    ProtoOAExecutionEvent,
    ProtoOAExecutionType,
    ProtoOAMarginCall,
    ProtoOANotificationType,
    ProtoOAOrder,
    ProtoOAOrderStatus,
    ProtoOAOrderTriggerMethod,
    ProtoOAOrderType,
    ProtoOAPosition,
    ProtoOAPositionStatus,
    ProtoOAStopOutStrategy,
    ProtoOATimeInForce,
    ProtoOATotalMarginCalculationType,
    ProtoOATradeData,
    ProtoOATrader,
    ProtoOATradeSide,
    ProtoOATrailingSLChangedEvent,
)
from ctrader_sdk.sandbox._config import AccountConfig
from ctrader_sdk.sandbox._market import Catalogue, PriceFeed, SymbolSpec

__all__ = ["Account", "Broker", "TradingError"]

#: The vendor's unit of relative stop loss / take profit distances: 1/100000 of a price unit.
_RELATIVE_UNIT = 100_000
_MAX_LABEL, _MAX_COMMENT, _MAX_CLIENT_ORDER_ID = 100, 512, 50


class TradingError(Exception):
    """A trading request was refused; becomes ``ProtoOAOrderErrorEvent`` (or ``ProtoOAErrorRes`` for reads).

    Attributes:
        code: the vendor error code name.
        description: the vendor-style description.
        order_id: the order concerned, when there is one.
        position_id: the position concerned, when there is one.
    """

    def __init__(
        self,
        code: ProtoOAErrorCode | str,
        description: str,
        *,
        order_id: int | None = None,
        position_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code if isinstance(code, str) else code.name
        self.description = description
        self.order_id = order_id
        self.position_id = position_id


def _opposite(side: ProtoOATradeSide) -> ProtoOATradeSide:
    return ProtoOATradeSide.SELL if side == ProtoOATradeSide.BUY else ProtoOATradeSide.BUY


@dataclass(slots=True)
class Order:
    """An order of any type, in any state."""

    order_id: int
    symbol_id: int
    order_type: ProtoOAOrderType
    side: ProtoOATradeSide
    volume: int
    created: int
    status: ProtoOAOrderStatus = ProtoOAOrderStatus.ORDER_STATUS_ACCEPTED
    updated: int = 0
    position_id: int | None = None
    closing: bool = False
    limit_price: float | None = None
    stop_price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    relative_stop_loss: int | None = None
    relative_take_profit: int | None = None
    time_in_force: ProtoOATimeInForce = ProtoOATimeInForce.IMMEDIATE_OR_CANCEL
    expiration: int | None = None
    base_slippage_price: float | None = None
    slippage_in_points: int | None = None
    label: str | None = None
    comment: str | None = None
    client_order_id: str | None = None
    guaranteed_stop_loss: bool = False
    trailing_stop_loss: bool = False
    stop_trigger_method: ProtoOAOrderTriggerMethod = ProtoOAOrderTriggerMethod.TRADE
    executed_volume: int = 0
    execution_price: float | None = None

    def to_proto(self) -> ProtoOAOrder:
        """The order as the vendor's ``ProtoOAOrder``."""
        return ProtoOAOrder(
            order_id=self.order_id,
            trade_data=ProtoOATradeData(
                symbol_id=self.symbol_id,
                volume=self.volume,
                trade_side=self.side,
                open_timestamp=self.created,
                label=self.label,
                guaranteed_stop_loss=self.guaranteed_stop_loss,
                comment=self.comment,
            ),
            order_type=self.order_type,
            order_status=self.status,
            expiration_timestamp=self.expiration,
            execution_price=self.execution_price,
            executed_volume=self.executed_volume,
            utc_last_update_timestamp=self.updated or self.created,
            base_slippage_price=self.base_slippage_price,
            slippage_in_points=self.slippage_in_points,
            closing_order=self.closing,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            stop_loss=self.stop_loss,
            take_profit=self.take_profit,
            client_order_id=self.client_order_id,
            time_in_force=self.time_in_force,
            position_id=self.position_id,
            relative_stop_loss=self.relative_stop_loss,
            relative_take_profit=self.relative_take_profit,
            is_stop_out=False,
            trailing_stop_loss=self.trailing_stop_loss,
            stop_trigger_method=self.stop_trigger_method,
        )


@dataclass(slots=True)
class Position:
    """A position: CREATED for a pending order, OPEN once filled, CLOSED at the end."""

    position_id: int
    symbol_id: int
    side: ProtoOATradeSide
    opened: int
    status: ProtoOAPositionStatus = ProtoOAPositionStatus.POSITION_STATUS_CREATED
    volume: int = 0
    price: float = 0.0
    updated: int = 0
    closed: int | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop_loss: bool = False
    trailing_distance: float = 0.0
    guaranteed_stop_loss: bool = False
    stop_loss_trigger_method: ProtoOAOrderTriggerMethod = ProtoOAOrderTriggerMethod.TRADE
    commission: int = 0
    used_margin: int = 0
    margin_rate: float = 0.0
    label: str | None = None
    comment: str | None = None
    protection_order_id: int | None = None
    #: Opening deals with their volume not yet offset, oldest first (closes match them FIFO).
    open_deals: list[list[int]] = field(default_factory=list)


@dataclass(slots=True)
class Deal:
    """An execution of (part of) an order."""

    deal_id: int
    order_id: int
    position_id: int
    symbol_id: int
    side: ProtoOATradeSide
    volume: int
    created: int
    price: float
    commission: int
    margin_rate: float
    base_to_usd: float
    close_detail: ProtoOAClosePositionDetail | None = None
    #: (deal id, volume) of the closing deals that offset this opening deal.
    offset_by: list[tuple[int, int]] = field(default_factory=list)
    #: (deal id, volume) of the opening deals this closing deal offset.
    offsetting: list[tuple[int, int]] = field(default_factory=list)


@dataclass(slots=True)
class Account:
    """The state of one trading account, shared by every connection that authorised it."""

    config: AccountConfig
    balance: int
    registered: int
    balance_version: int = 1
    positions: dict[int, Position] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    #: The OPEN positions (a view of ``positions`` kept by the broker, so ticks cost O(open)).
    open: dict[int, Position] = field(default_factory=dict)
    #: The pending LIMIT/STOP/STOP_LIMIT orders (a view of ``orders`` kept by the broker).
    pending: dict[int, Order] = field(default_factory=dict)
    deals: dict[int, Deal] = field(default_factory=dict)
    cash_flows: list[ProtoOADepositWithdraw] = field(default_factory=list)
    margin_calls: dict[ProtoOANotificationType, ProtoOAMarginCall] = field(default_factory=dict)

    @property
    def account_id(self) -> int:
        """The account's ``ctidTraderAccountId``."""
        return self.config.ctid_trader_account_id

    @property
    def money_digits(self) -> int:
        """Exponent of the account's monetary values."""
        return self.config.money_digits

    def money(self, amount: float) -> int:
        """``amount`` of the deposit currency in the account's wire units."""
        return round(amount * 10.0**self.config.money_digits)


class Broker:
    """Every account of the sandbox and the trading operations on them.

    Args:
        feed: the price feed fills are priced from.
        accounts: the configured accounts.
        now: the sandbox's start time (ms); accounts were registered 30 days before it.
    """

    def __init__(self, feed: PriceFeed, accounts: tuple[AccountConfig, ...], now: int) -> None:
        self.feed = feed
        self.catalogue: Catalogue = feed.catalogue
        self._order_ids = itertools.count(10_000_001)
        self._position_ids = itertools.count(20_000_001)
        self._deal_ids = itertools.count(30_000_001)
        self._history_ids = itertools.count(40_000_001)
        self.accounts: dict[int, Account] = {}
        registered = now - 30 * 86_400_000
        for config in accounts:
            if config.deposit_currency not in self.catalogue.asset_by_name:
                raise ValueError(f"unknown deposit currency {config.deposit_currency!r}")
            account = Account(config=config, balance=0, registered=registered)
            account.balance = account.money(config.balance)
            account.cash_flows.append(
                ProtoOADepositWithdraw(
                    operation_type=ProtoOAChangeBalanceType.BALANCE_DEPOSIT,
                    balance_history_id=next(self._history_ids),
                    balance=account.balance,
                    delta=account.balance,
                    change_balance_timestamp=registered,
                    external_note="Initial deposit",
                    balance_version=account.balance_version,
                    equity=account.balance,
                    money_digits=config.money_digits,
                )
            )
            for kind, level in (
                (ProtoOANotificationType.MARGIN_LEVEL_THRESHOLD_1, 200.0),
                (ProtoOANotificationType.MARGIN_LEVEL_THRESHOLD_2, 100.0),
                (ProtoOANotificationType.MARGIN_LEVEL_THRESHOLD_3, 60.0),
            ):
                account.margin_calls[kind] = ProtoOAMarginCall(
                    margin_call_type=kind, margin_level_threshold=level, utc_last_update_timestamp=registered
                )
            self.accounts[config.ctid_trader_account_id] = account

    # -----------------------------------------------------------------------------------------
    # Pricing helpers

    def _spec(self, symbol_id: int) -> SymbolSpec:
        spec = self.catalogue.symbols.get(symbol_id)
        if spec is None:
            raise TradingError(ProtoOAErrorCode.SYMBOL_NOT_FOUND, f"Symbol not found with id {symbol_id}")
        return spec

    def _fill_price(self, spec: SymbolSpec, side: ProtoOATradeSide, now: int) -> float:
        """The price a market order fills at: the ask for a buy, the bid for a sell."""
        return self.feed.price(spec.symbol_id, now, "ask" if side == ProtoOATradeSide.BUY else "bid")

    def _close_price(self, spec: SymbolSpec, side: ProtoOATradeSide, now: int) -> float:
        """The price a position of ``side`` closes at: the bid for a buy position, the ask for a sell."""
        return self._fill_price(spec, _opposite(side), now)

    def _commission(self, account: Account, spec: SymbolSpec, volume: int, price: float, now: int) -> int:
        """Commission of one side of ``volume``, negative, in the account's money units."""
        if spec.commission <= 0:
            return 0
        usd = volume / 100 * price * self.feed.rate(spec.quote, "USD", now)
        return -account.money(
            usd / 1_000_000 * spec.commission * self.feed.rate("USD", account.config.deposit_currency, now)
        )

    def _margin(self, account: Account, spec: SymbolSpec, volume: int, now: int) -> tuple[int, float]:
        """(used margin in money units, base→deposit rate) of ``volume`` of ``spec``.

        The leverage is the lower of the account's and the symbol's dynamic leverage tier for the
        position's USD notional.
        """
        rate = self.feed.rate(spec.base, account.config.deposit_currency, now)
        usd_notional = round(volume * self.feed.rate(spec.base, "USD", now))
        leverage = min(account.config.leverage, self.catalogue.leverage_for(spec, usd_notional))
        return account.money(volume / 100 * rate / leverage), rate

    def _profit(
        self, account: Account, spec: SymbolSpec, position: Position, volume: int, price: float, now: int
    ) -> tuple[int, float]:
        """(gross profit in money units, quote→deposit rate) of closing ``volume`` at ``price``."""
        direction = 1 if position.side == ProtoOATradeSide.BUY else -1
        rate = self.feed.rate(spec.quote, account.config.deposit_currency, now)
        return account.money((price - position.price) * direction * volume / 100 * rate), rate

    def unrealized(self, account: Account, now: int) -> list[tuple[int, int, int]]:
        """(position id, gross, net) unrealized PnL of every open position, in money units.

        Net includes the commission already charged to open the position, not the closing one.
        """
        out = []
        for position in account.open.values():
            spec = self.catalogue.symbols[position.symbol_id]
            price = self._close_price(spec, position.side, now)
            gross, _ = self._profit(account, spec, position, position.volume, price, now)
            out.append((position.position_id, gross, gross + position.commission))
        return out

    def used_margin(self, account: Account) -> int:
        """Margin used by every open position."""
        return sum(p.used_margin for p in account.open.values())

    def expected_margin(
        self, account: Account, symbol_id: int, volumes: list[int], now: int
    ) -> list[tuple[int, int, int]]:
        """(volume, buy margin, sell margin) for each of ``volumes`` of ``symbol_id``.

        Raises:
            TradingError: the symbol is unknown or a volume is not positive.
        """
        spec = self._spec(symbol_id)
        out = []
        for volume in volumes:
            if volume <= 0:
                raise TradingError(
                    ProtoOAErrorCode.TRADING_BAD_VOLUME, f"Volume must be positive, got {volume}"
                )
            margin, _ = self._margin(account, spec, volume, now)
            out.append((volume, margin, margin))
        return out

    # -----------------------------------------------------------------------------------------
    # Messages

    def _position_proto(self, account: Account, position: Position) -> ProtoOAPosition:
        spec = self.catalogue.symbols[position.symbol_id]
        return ProtoOAPosition(
            position_id=position.position_id,
            trade_data=ProtoOATradeData(
                symbol_id=position.symbol_id,
                volume=position.volume,
                trade_side=position.side,
                open_timestamp=position.opened,
                label=position.label,
                guaranteed_stop_loss=position.guaranteed_stop_loss,
                comment=position.comment,
                measurement_units=spec.measurement_units,
                close_timestamp=position.closed,
            ),
            position_status=position.status,
            swap=0,
            price=round(position.price, spec.digits + 2) if position.price else None,
            stop_loss=position.stop_loss,
            take_profit=position.take_profit,
            utc_last_update_timestamp=position.updated or position.opened,
            commission=position.commission,
            margin_rate=position.margin_rate or None,
            mirroring_commission=0,
            guaranteed_stop_loss=position.guaranteed_stop_loss,
            used_margin=position.used_margin,
            stop_loss_trigger_method=position.stop_loss_trigger_method,
            money_digits=account.money_digits,
            trailing_stop_loss=position.trailing_stop_loss,
        )

    def _deal_proto(self, account: Account, deal: Deal) -> ProtoOADeal:
        return ProtoOADeal(
            deal_id=deal.deal_id,
            order_id=deal.order_id,
            position_id=deal.position_id,
            volume=deal.volume,
            filled_volume=deal.volume,
            symbol_id=deal.symbol_id,
            create_timestamp=deal.created,
            execution_timestamp=deal.created,
            utc_last_update_timestamp=deal.created,
            execution_price=deal.price,
            trade_side=deal.side,
            deal_status=ProtoOADealStatus.FILLED,
            margin_rate=deal.margin_rate,
            commission=deal.commission,
            base_to_usd_conversion_rate=deal.base_to_usd,
            close_position_detail=deal.close_detail,
            money_digits=account.money_digits,
        )

    def _event(
        self,
        account: Account,
        kind: ProtoOAExecutionType,
        *,
        order: Order | None = None,
        position: Position | None = None,
        deal: Deal | None = None,
    ) -> ProtoOAExecutionEvent:
        return ProtoOAExecutionEvent(
            ctid_trader_account_id=account.account_id,
            execution_type=kind,
            order=None if order is None else order.to_proto(),
            position=None if position is None else self._position_proto(account, position),
            deal=None if deal is None else self._deal_proto(account, deal),
            is_server_event=False,
        )

    def trader(self, account: Account) -> ProtoOATrader:
        """The account as ``ProtoOATrader``."""
        config = account.config
        return ProtoOATrader(
            ctid_trader_account_id=account.account_id,
            balance=account.balance,
            balance_version=account.balance_version,
            manager_bonus=0,
            ib_bonus=0,
            non_withdrawable_bonus=0,
            access_rights=ProtoOAAccessRights.FULL_ACCESS,
            deposit_asset_id=self.catalogue.asset_by_name[config.deposit_currency].asset_id,
            swap_free=False,
            leverage_in_cents=config.leverage * 100,
            total_margin_calculation_type=ProtoOATotalMarginCalculationType.MAX,
            max_leverage=config.leverage,
            trader_login=config.trader_login,
            account_type=ProtoOAAccountType.HEDGED,
            broker_name=config.broker_name,
            registration_timestamp=account.registered,
            is_limited_risk=False,
            money_digits=config.money_digits,
            fair_stop_out=False,
            stop_out_strategy=ProtoOAStopOutStrategy.MOST_MARGIN_USED_FIRST,
        )

    def position_proto(self, account: Account, position: Position) -> ProtoOAPosition:
        """``position`` as the vendor's ``ProtoOAPosition``."""
        return self._position_proto(account, position)

    def deal_proto(self, account: Account, deal: Deal) -> ProtoOADeal:
        """``deal`` as the vendor's ``ProtoOADeal``."""
        return self._deal_proto(account, deal)

    # -----------------------------------------------------------------------------------------
    # Validation helpers

    @staticmethod
    def _check_volume(spec: SymbolSpec, volume: int) -> None:
        if volume < spec.min_volume or volume > spec.max_volume:
            raise TradingError(
                ProtoOAErrorCode.TRADING_BAD_VOLUME,
                f"Order volume {volume} is outside [{spec.min_volume}, {spec.max_volume}] for {spec.name}",
            )
        if volume % spec.step_volume:
            raise TradingError(
                ProtoOAErrorCode.TRADING_BAD_VOLUME,
                f"Order volume {volume} is not a multiple of the step {spec.step_volume} of {spec.name}",
            )

    @staticmethod
    def _check_texts(label: str | None, comment: str | None, client_order_id: str | None) -> None:
        for name, value, limit in (
            ("label", label, _MAX_LABEL),
            ("comment", comment, _MAX_COMMENT),
            ("clientOrderId", client_order_id, _MAX_CLIENT_ORDER_ID),
        ):
            if value is not None and len(value) > limit:
                raise TradingError("INVALID_REQUEST", f"{name} is longer than {limit} characters")

    def _check_protection(
        self,
        spec: SymbolSpec,
        side: ProtoOATradeSide,
        stop_loss: float | None,
        take_profit: float | None,
        reference: float,
        reference_name: str,
        position_id: int | None = None,
    ) -> None:
        """Stops must be on the losing side of ``reference`` and take profits on the winning side."""
        side_name = side.name
        fmt = f"{{:.{spec.digits}f}}"
        if stop_loss is not None and (
            stop_loss <= 0
            or (side == ProtoOATradeSide.BUY and stop_loss >= reference)
            or (side == ProtoOATradeSide.SELL and stop_loss <= reference)
        ):
            relation = "<" if side == ProtoOATradeSide.BUY else ">"
            raise TradingError(
                ProtoOAErrorCode.TRADING_BAD_STOPS,
                f"New SL for {side_name} position should be {relation} current {reference_name} price. "
                f"current {reference_name}: {fmt.format(reference)}, SL: {fmt.format(stop_loss)}",
                position_id=position_id,
            )
        if take_profit is not None and (
            take_profit <= 0
            or (side == ProtoOATradeSide.BUY and take_profit <= reference)
            or (side == ProtoOATradeSide.SELL and take_profit >= reference)
        ):
            relation = ">" if side == ProtoOATradeSide.BUY else "<"
            raise TradingError(
                ProtoOAErrorCode.TRADING_BAD_STOPS,
                f"New TP for {side_name} position should be {relation} current {reference_name} price. "
                f"current {reference_name}: {fmt.format(reference)}, TP: {fmt.format(take_profit)}",
                position_id=position_id,
            )

    def _open_position(self, account: Account, position_id: int) -> Position:
        position = account.open.get(position_id)
        if position is None:
            raise TradingError(
                ProtoOAErrorCode.POSITION_NOT_FOUND,
                f"Position not found with id {position_id}",
                position_id=position_id,
            )
        return position

    def _pending_order(self, account: Account, order_id: int) -> Order:
        order = account.pending.get(order_id)
        if order is None:
            raise TradingError(
                ProtoOAErrorCode.ORDER_NOT_FOUND, f"Order not found with id {order_id}", order_id=order_id
            )
        return order

    def _check_pending_price(self, spec: SymbolSpec, order: Order, now: int) -> None:
        """A limit must be better than the market, a stop worse, so neither fills at once."""
        bid = self.feed.price(spec.symbol_id, now, "bid")
        ask = self.feed.price(spec.symbol_id, now, "ask")
        buy = order.side == ProtoOATradeSide.BUY
        market, market_name = (ask, "ASK") if buy else (bid, "BID")
        fmt = f"{{:.{spec.digits}f}}"
        if order.order_type == ProtoOAOrderType.LIMIT:
            price = order.limit_price
            if price is None or price <= 0:
                raise TradingError(
                    ProtoOAErrorCode.TRADING_BAD_PRICES, "Limit price is required for LIMIT orders"
                )
            if (buy and price >= market) or (not buy and price <= market):
                relation = "<" if buy else ">"
                raise TradingError(
                    ProtoOAErrorCode.TRADING_BAD_PRICES,
                    f"Limit price of a {order.side.name} order should be {relation} the {market_name} price. "
                    f"current {market_name}: {fmt.format(market)}, limit price: {fmt.format(price)}",
                )
        else:
            price = order.stop_price
            if price is None or price <= 0:
                raise TradingError(
                    ProtoOAErrorCode.TRADING_BAD_PRICES,
                    f"Stop price is required for {order.order_type.name} orders",
                )
            if (buy and price <= market) or (not buy and price >= market):
                relation = ">" if buy else "<"
                raise TradingError(
                    ProtoOAErrorCode.TRADING_BAD_PRICES,
                    f"Stop price of a {order.side.name} order should be {relation} the {market_name} price. "
                    f"current {market_name}: {fmt.format(market)}, stop price: {fmt.format(price)}",
                )
            if order.order_type == ProtoOAOrderType.STOP_LIMIT and (
                order.slippage_in_points is None or order.slippage_in_points < 0
            ):
                raise TradingError(
                    ProtoOAErrorCode.TRADING_BAD_PRICES, "slippageInPoints is required for STOP_LIMIT orders"
                )

    # -----------------------------------------------------------------------------------------
    # Trading requests

    def new_order(
        self,
        account: Account,
        *,
        symbol_id: int,
        order_type: ProtoOAOrderType,
        side: ProtoOATradeSide,
        volume: int,
        now: int,
        limit_price: float | None = None,
        stop_price: float | None = None,
        time_in_force: ProtoOATimeInForce | None = None,
        expiration: int | None = None,
        stop_loss: float | None = None,
        take_profit: float | None = None,
        comment: str | None = None,
        base_slippage_price: float | None = None,
        slippage_in_points: int | None = None,
        label: str | None = None,
        position_id: int | None = None,
        client_order_id: str | None = None,
        relative_stop_loss: int | None = None,
        relative_take_profit: int | None = None,
        guaranteed_stop_loss: bool | None = None,
        trailing_stop_loss: bool | None = None,
        stop_trigger_method: ProtoOAOrderTriggerMethod | None = None,
    ) -> list[ProtoOAExecutionEvent]:
        """Place an order (``ProtoOANewOrderReq``).

        A market order answers ORDER_ACCEPTED (order only, "position is absent" as the vendor's flow
        documents) then ORDER_FILLED (order, position snapshot, deal). A pending order answers
        ORDER_ACCEPTED with the empty CREATED position it will fill into.

        Raises:
            TradingError: the order is refused (unknown symbol, bad volume, prices or stops, no money...).
        """
        spec = self._spec(symbol_id)
        self._check_volume(spec, volume)
        self._check_texts(label, comment, client_order_id)
        if order_type == ProtoOAOrderType.STOP_LOSS_TAKE_PROFIT:
            raise TradingError(
                "INVALID_REQUEST", "STOP_LOSS_TAKE_PROFIT orders are created by the server only"
            )
        market_like = order_type in (ProtoOAOrderType.MARKET, ProtoOAOrderType.MARKET_RANGE)
        if market_like and (stop_loss is not None or take_profit is not None):
            raise TradingError(
                ProtoOAErrorCode.TRADING_BAD_STOPS,
                "SL/TP in absolute values are allowed only for order types: [LIMIT, STOP, STOP_LIMIT]",
            )
        for name, value in (
            ("relativeStopLoss", relative_stop_loss),
            ("relativeTakeProfit", relative_take_profit),
        ):
            if value is not None and value <= 0:
                raise TradingError(
                    ProtoOAErrorCode.TRADING_BAD_STOPS, f"{name} must be positive, got {value}"
                )
        if order_type == ProtoOAOrderType.MARKET_RANGE and (
            base_slippage_price is None or slippage_in_points is None
        ):
            raise TradingError(
                ProtoOAErrorCode.TRADING_BAD_PRICES,
                "baseSlippagePrice and slippageInPoints are required for MARKET_RANGE orders",
            )
        tif = time_in_force or (
            ProtoOATimeInForce.IMMEDIATE_OR_CANCEL if market_like else ProtoOATimeInForce.GOOD_TILL_CANCEL
        )
        if (
            tif == ProtoOATimeInForce.GOOD_TILL_DATE
            and not market_like
            and (expiration is None or expiration <= now)
        ):
            raise TradingError(
                ProtoOAErrorCode.TRADING_BAD_EXPIRATION_DATE,
                "expirationTimestamp must be set in the future for GOOD_TILL_DATE orders",
            )
        target: Position | None = None
        if position_id is not None:
            target = self._open_position(account, position_id)
            if target.symbol_id != symbol_id:
                raise TradingError(
                    ProtoOAErrorCode.POSITION_NOT_FOUND,
                    f"Position {position_id} is not a {spec.name} position",
                    position_id=position_id,
                )
            if target.side != side and volume > target.volume:
                raise TradingError(
                    ProtoOAErrorCode.TRADING_BAD_VOLUME,
                    f"Closing volume {volume} exceeds the position volume {target.volume}",
                    position_id=position_id,
                )
        order = Order(
            order_id=next(self._order_ids),
            symbol_id=symbol_id,
            order_type=order_type,
            side=side,
            volume=volume,
            created=now,
            updated=now,
            position_id=position_id,
            closing=target is not None and target.side != side,
            limit_price=limit_price if order_type == ProtoOAOrderType.LIMIT else None,
            stop_price=stop_price
            if order_type in (ProtoOAOrderType.STOP, ProtoOAOrderType.STOP_LIMIT)
            else None,
            stop_loss=stop_loss,
            take_profit=take_profit,
            relative_stop_loss=relative_stop_loss,
            relative_take_profit=relative_take_profit,
            time_in_force=tif,
            expiration=expiration if tif == ProtoOATimeInForce.GOOD_TILL_DATE else None,
            base_slippage_price=base_slippage_price,
            slippage_in_points=slippage_in_points,
            label=label,
            comment=comment,
            client_order_id=client_order_id,
            guaranteed_stop_loss=bool(guaranteed_stop_loss),
            trailing_stop_loss=bool(trailing_stop_loss),
            stop_trigger_method=stop_trigger_method or ProtoOAOrderTriggerMethod.TRADE,
        )
        if not market_like:
            self._check_pending_price(spec, order, now)
            entry = order.limit_price if order.limit_price is not None else order.stop_price
            assert entry is not None
            self._check_protection(spec, side, stop_loss, take_profit, entry, "entry")
        if not order.closing:
            self._check_money(account, spec, volume, now)
        account.orders[order.order_id] = order
        if not market_like:
            position = Position(
                position_id=target.position_id if target else next(self._position_ids),
                symbol_id=symbol_id,
                side=side,
                opened=now,
                updated=now,
                label=label,
                comment=comment,
            )
            order.position_id = position.position_id
            account.pending[order.order_id] = order
            if target is None:
                account.positions[position.position_id] = position
            return [
                self._event(
                    account, ProtoOAExecutionType.ORDER_ACCEPTED, order=order, position=target or position
                )
            ]
        events = [self._event(account, ProtoOAExecutionType.ORDER_ACCEPTED, order=order)]
        price = self._fill_price(spec, side, now)
        if order_type == ProtoOAOrderType.MARKET_RANGE:
            assert base_slippage_price is not None and slippage_in_points is not None
            if abs(price - base_slippage_price) * spec.points_per_unit > slippage_in_points:
                order.status = ProtoOAOrderStatus.ORDER_STATUS_CANCELLED
                events.append(self._event(account, ProtoOAExecutionType.ORDER_CANCELLED, order=order))
                return events
        events.append(self._fill(account, order, price, now))
        return events

    def _check_money(self, account: Account, spec: SymbolSpec, volume: int, now: int) -> None:
        margin, _ = self._margin(account, spec, volume, now)
        equity = account.balance + sum(net for _, _, net in self.unrealized(account, now))
        free = equity - self.used_margin(account)
        if margin > free:
            digits = account.money_digits
            raise TradingError(
                ProtoOAErrorCode.NOT_ENOUGH_MONEY,
                f"Not enough money: margin {margin / 10**digits:.{digits}f} exceeds free margin "
                f"{free / 10**digits:.{digits}f} {account.config.deposit_currency}",
            )

    def _fill(self, account: Account, order: Order, price: float, now: int) -> ProtoOAExecutionEvent:
        """Fill ``order`` entirely at ``price``: open, increase or reduce its position; ORDER_FILLED."""
        spec = self.catalogue.symbols[order.symbol_id]
        price = round(price, spec.digits)
        position = account.positions.get(order.position_id) if order.position_id is not None else None
        deal = Deal(
            deal_id=next(self._deal_ids),
            order_id=order.order_id,
            position_id=0,
            symbol_id=order.symbol_id,
            side=order.side,
            volume=order.volume,
            created=now,
            price=price,
            commission=self._commission(account, spec, order.volume, price, now),
            margin_rate=0.0,
            base_to_usd=self.feed.rate(spec.base, "USD", now),
        )
        if (
            position is not None
            and position.status == ProtoOAPositionStatus.POSITION_STATUS_OPEN
            and position.side != order.side
        ):
            self._reduce(account, spec, position, deal, now)
        else:
            if position is None:
                position = Position(
                    position_id=next(self._position_ids),
                    symbol_id=order.symbol_id,
                    side=order.side,
                    opened=now,
                    label=order.label,
                    comment=order.comment,
                )
                account.positions[position.position_id] = position
            if position.status != ProtoOAPositionStatus.POSITION_STATUS_OPEN:
                position.status = ProtoOAPositionStatus.POSITION_STATUS_OPEN
                position.opened = now
                account.open[position.position_id] = position
            total = position.volume + order.volume
            position.price = (position.price * position.volume + price * order.volume) / total
            position.volume = total
            position.commission += deal.commission
            position.used_margin, position.margin_rate = self._margin(account, spec, total, now)
            position.guaranteed_stop_loss = position.guaranteed_stop_loss or order.guaranteed_stop_loss
            self._apply_order_protection(spec, position, order, price)
            position.open_deals.append([deal.deal_id, order.volume])
            deal.margin_rate = position.margin_rate
        position.updated = now
        deal.position_id = position.position_id
        account.deals[deal.deal_id] = deal
        account.pending.pop(order.order_id, None)
        order.position_id = position.position_id
        order.status = ProtoOAOrderStatus.ORDER_STATUS_FILLED
        order.executed_volume = order.volume
        order.execution_price = price
        order.updated = now
        return self._event(
            account, ProtoOAExecutionType.ORDER_FILLED, order=order, position=position, deal=deal
        )

    @staticmethod
    def _apply_order_protection(spec: SymbolSpec, position: Position, order: Order, entry: float) -> None:
        """Copy the order's absolute or relative stop loss / take profit to the position."""
        sign = 1 if order.side == ProtoOATradeSide.BUY else -1
        if order.relative_stop_loss is not None:
            position.stop_loss = round(entry - sign * order.relative_stop_loss / _RELATIVE_UNIT, spec.digits)
        elif order.stop_loss is not None:
            position.stop_loss = order.stop_loss
        if order.relative_take_profit is not None:
            position.take_profit = round(
                entry + sign * order.relative_take_profit / _RELATIVE_UNIT, spec.digits
            )
        elif order.take_profit is not None:
            position.take_profit = order.take_profit
        if order.trailing_stop_loss and position.stop_loss is not None:
            position.trailing_stop_loss = True
            position.trailing_distance = abs(entry - position.stop_loss)
        position.stop_loss_trigger_method = order.stop_trigger_method

    def _reduce(self, account: Account, spec: SymbolSpec, position: Position, deal: Deal, now: int) -> None:
        """Close ``deal.volume`` of ``position`` at ``deal.price``: realise PnL and commission."""
        volume = deal.volume
        gross, quote_rate = self._profit(account, spec, position, volume, deal.price, now)
        open_share = round(position.commission * volume / position.volume)
        commission = open_share + deal.commission
        position.commission -= open_share
        account.balance += gross + commission
        account.balance_version += 1
        remaining = volume
        for entry in position.open_deals:
            if remaining == 0:
                break
            matched = min(remaining, entry[1])
            if matched:
                entry[1] -= matched
                remaining -= matched
                opening = account.deals[entry[0]]
                opening.offset_by.append((deal.deal_id, matched))
                deal.offsetting.append((opening.deal_id, matched))
        position.open_deals = [e for e in position.open_deals if e[1] > 0]
        deal.close_detail = ProtoOAClosePositionDetail(
            entry_price=round(position.price, spec.digits + 2),
            gross_profit=gross,
            swap=0,
            commission=commission,
            balance=account.balance,
            quote_to_deposit_conversion_rate=quote_rate,
            closed_volume=volume,
            balance_version=account.balance_version,
            money_digits=account.money_digits,
            pnl_conversion_fee=0,
        )
        deal.margin_rate = position.margin_rate
        position.volume -= volume
        if position.volume == 0:
            position.status = ProtoOAPositionStatus.POSITION_STATUS_CLOSED
            position.closed = now
            del account.open[position.position_id]
            position.used_margin = 0
            position.stop_loss = position.take_profit = None
            position.trailing_stop_loss = False
        else:
            position.used_margin, position.margin_rate = self._margin(account, spec, position.volume, now)

    def close_position(
        self, account: Account, position_id: int, volume: int, now: int
    ) -> list[ProtoOAExecutionEvent]:
        """Close all or part of a position (``ProtoOAClosePositionReq``): ORDER_ACCEPTED then ORDER_FILLED.

        The filled deal carries ``closePositionDetail``; a full close leaves the position CLOSED.

        Raises:
            TradingError: unknown or closed position (``POSITION_NOT_FOUND``), or a volume that is not
                positive, not a step multiple or above the position volume (``TRADING_BAD_VOLUME``).
        """
        position = self._open_position(account, position_id)
        spec = self.catalogue.symbols[position.symbol_id]
        if volume <= 0 or volume > position.volume or volume % spec.step_volume:
            raise TradingError(
                ProtoOAErrorCode.TRADING_BAD_VOLUME,
                f"Close volume {volume} is invalid for position {position_id} of volume {position.volume} "
                f"(step {spec.step_volume})",
                position_id=position_id,
            )
        order = Order(
            order_id=next(self._order_ids),
            symbol_id=position.symbol_id,
            order_type=ProtoOAOrderType.MARKET,
            side=_opposite(position.side),
            volume=volume,
            created=now,
            updated=now,
            position_id=position_id,
            closing=True,
        )
        account.orders[order.order_id] = order
        accepted = self._event(account, ProtoOAExecutionType.ORDER_ACCEPTED, order=order, position=position)
        filled = self._fill(account, order, self._fill_price(spec, order.side, now), now)
        return [accepted, filled]

    def cancel_order(self, account: Account, order_id: int, now: int) -> list[ProtoOAExecutionEvent]:
        """Cancel a pending order (``ProtoOACancelOrderReq``): ORDER_CANCELLED.

        Raises:
            TradingError: ``ORDER_NOT_FOUND`` when the order is unknown or no longer pending.
        """
        order = self._pending_order(account, order_id)
        order.status = ProtoOAOrderStatus.ORDER_STATUS_CANCELLED
        order.updated = now
        del account.pending[order_id]
        position = self._release_pending_position(account, order, now)
        return [self._event(account, ProtoOAExecutionType.ORDER_CANCELLED, order=order, position=position)]

    @staticmethod
    def _release_pending_position(account: Account, order: Order, now: int) -> Position | None:
        """Close the empty CREATED position of a pending order that will not fill."""
        position = account.positions.get(order.position_id) if order.position_id is not None else None
        if position is not None and position.status == ProtoOAPositionStatus.POSITION_STATUS_CREATED:
            position.status = ProtoOAPositionStatus.POSITION_STATUS_CLOSED
            position.closed = position.updated = now
        return position

    def amend_order(
        self,
        account: Account,
        order_id: int,
        now: int,
        *,
        volume: int | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        expiration: int | None = None,
        stop_loss: float | None = None,
        take_profit: float | None = None,
        slippage_in_points: int | None = None,
        relative_stop_loss: int | None = None,
        relative_take_profit: int | None = None,
        guaranteed_stop_loss: bool | None = None,
        trailing_stop_loss: bool | None = None,
        stop_trigger_method: ProtoOAOrderTriggerMethod | None = None,
    ) -> list[ProtoOAExecutionEvent]:
        """Change a pending order (``ProtoOAAmendOrderReq``): ORDER_REPLACED with the new order.

        Only the given fields change; the result is validated as a new order would be.

        Raises:
            TradingError: ``ORDER_NOT_FOUND``, or the amended order is invalid.
        """
        original = self._pending_order(account, order_id)
        try:
            order = self._amended(
                original,
                now,
                volume=volume,
                limit_price=limit_price,
                stop_price=stop_price,
                expiration=expiration,
                stop_loss=stop_loss,
                take_profit=take_profit,
                slippage_in_points=slippage_in_points,
                relative_stop_loss=relative_stop_loss,
                relative_take_profit=relative_take_profit,
                guaranteed_stop_loss=guaranteed_stop_loss,
                trailing_stop_loss=trailing_stop_loss,
                stop_trigger_method=stop_trigger_method,
            )
        except TradingError as exc:
            exc.order_id = order_id
            raise
        order.updated = now
        account.orders[order_id] = account.pending[order_id] = order
        return [self._event(account, ProtoOAExecutionType.ORDER_REPLACED, order=order)]

    def _amended(
        self,
        original: Order,
        now: int,
        *,
        volume: int | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        expiration: int | None = None,
        stop_loss: float | None = None,
        take_profit: float | None = None,
        slippage_in_points: int | None = None,
        relative_stop_loss: int | None = None,
        relative_take_profit: int | None = None,
        guaranteed_stop_loss: bool | None = None,
        trailing_stop_loss: bool | None = None,
        stop_trigger_method: ProtoOAOrderTriggerMethod | None = None,
    ) -> Order:
        """A copy of ``original`` with the given fields changed, validated as a new order would be."""
        spec = self.catalogue.symbols[original.symbol_id]
        order = dataclasses.replace(original)
        if volume is not None:
            self._check_volume(spec, volume)
            order.volume = volume
        if limit_price is not None:
            if order.order_type != ProtoOAOrderType.LIMIT:
                raise TradingError(
                    ProtoOAErrorCode.TRADING_BAD_PRICES,
                    "limitPrice applies to LIMIT orders only",
                )
            order.limit_price = limit_price
        if stop_price is not None:
            if order.order_type == ProtoOAOrderType.LIMIT:
                raise TradingError(
                    ProtoOAErrorCode.TRADING_BAD_PRICES,
                    "stopPrice applies to STOP and STOP_LIMIT orders only",
                )
            order.stop_price = stop_price
        if expiration is not None:
            if expiration <= now:
                raise TradingError(
                    ProtoOAErrorCode.TRADING_BAD_EXPIRATION_DATE,
                    "expirationTimestamp must be in the future",
                )
            order.expiration = expiration
            order.time_in_force = ProtoOATimeInForce.GOOD_TILL_DATE
        for name, value in (("stop_loss", stop_loss), ("take_profit", take_profit)):
            if value is not None:
                setattr(order, name, value)
        for name, rel in (
            ("relative_stop_loss", relative_stop_loss),
            ("relative_take_profit", relative_take_profit),
        ):
            if rel is not None:
                if rel <= 0:
                    raise TradingError(ProtoOAErrorCode.TRADING_BAD_STOPS, f"{name} must be positive")
                setattr(order, name, rel)
        if slippage_in_points is not None:
            order.slippage_in_points = slippage_in_points
        if guaranteed_stop_loss is not None:
            order.guaranteed_stop_loss = guaranteed_stop_loss
        if trailing_stop_loss is not None:
            order.trailing_stop_loss = trailing_stop_loss
        if stop_trigger_method is not None:
            order.stop_trigger_method = stop_trigger_method
        self._check_pending_price(spec, order, now)
        entry = order.limit_price if order.limit_price is not None else order.stop_price
        assert entry is not None
        self._check_protection(spec, order.side, order.stop_loss, order.take_profit, entry, "entry")
        return order

    def amend_position_sltp(
        self,
        account: Account,
        position_id: int,
        now: int,
        *,
        stop_loss: float | None,
        take_profit: float | None,
        guaranteed_stop_loss: bool | None = None,
        trailing_stop_loss: bool | None = None,
        stop_loss_trigger_method: ProtoOAOrderTriggerMethod | None = None,
    ) -> list[ProtoOAExecutionEvent]:
        """Set the protection of an open position (``ProtoOAAmendPositionSLTPReq``): ORDER_REPLACED.

        The request states the whole protection: a stop loss or take profit left out is removed. The
        event carries the position and its STOP_LOSS_TAKE_PROFIT protection order.

        Raises:
            TradingError: ``POSITION_NOT_FOUND``, or ``TRADING_BAD_STOPS`` when a level is on the
                wrong side of the current closing price.
        """
        position = self._open_position(account, position_id)
        spec = self.catalogue.symbols[position.symbol_id]
        reference = self._close_price(spec, position.side, now)
        name = "BID" if position.side == ProtoOATradeSide.BUY else "ASK"
        self._check_protection(spec, position.side, stop_loss, take_profit, reference, name, position_id)
        position.stop_loss = None if stop_loss is None else round(stop_loss, spec.digits)
        position.take_profit = None if take_profit is None else round(take_profit, spec.digits)
        if guaranteed_stop_loss is not None:
            position.guaranteed_stop_loss = guaranteed_stop_loss
        position.trailing_stop_loss = bool(trailing_stop_loss) and position.stop_loss is not None
        position.trailing_distance = (
            abs(reference - position.stop_loss) if position.stop_loss is not None else 0.0
        )
        if stop_loss_trigger_method is not None:
            position.stop_loss_trigger_method = stop_loss_trigger_method
        position.updated = now
        order = self._protection_order(account, position, now)
        return [self._event(account, ProtoOAExecutionType.ORDER_REPLACED, order=order, position=position)]

    def _protection_order(self, account: Account, position: Position, now: int) -> Order:
        """The STOP_LOSS_TAKE_PROFIT order that carries a position's protection (one per position)."""
        if position.protection_order_id is None:
            position.protection_order_id = next(self._order_ids)
        order = Order(
            order_id=position.protection_order_id,
            symbol_id=position.symbol_id,
            order_type=ProtoOAOrderType.STOP_LOSS_TAKE_PROFIT,
            side=_opposite(position.side),
            volume=position.volume,
            created=account.orders[position.protection_order_id].created
            if position.protection_order_id in account.orders
            else now,
            updated=now,
            position_id=position.position_id,
            closing=True,
            stop_price=position.stop_loss,
            stop_loss=position.stop_loss,
            take_profit=position.take_profit,
            time_in_force=ProtoOATimeInForce.GOOD_TILL_CANCEL,
            guaranteed_stop_loss=position.guaranteed_stop_loss,
            trailing_stop_loss=position.trailing_stop_loss,
            stop_trigger_method=position.stop_loss_trigger_method,
        )
        if position.stop_loss is None and position.take_profit is None:
            order.status = ProtoOAOrderStatus.ORDER_STATUS_CANCELLED
        account.orders[order.order_id] = order
        return order

    def protection_orders(self, account: Account) -> list[Order]:
        """The active STOP_LOSS_TAKE_PROFIT orders of the open positions."""
        return [
            account.orders[p.protection_order_id]
            for p in account.open.values()
            if p.protection_order_id is not None and (p.stop_loss is not None or p.take_profit is not None)
        ]

    # -----------------------------------------------------------------------------------------
    # The market moves

    def on_tick(self, now: int) -> list[tuple[Account, Message]]:
        """Apply the market at ``now``: expire, trigger and fill pending orders, trail stops, and
        close positions whose stop loss or take profit was reached.

        Returns:
            (account, event) pairs to publish to every connection where the account is authorised.
        """
        out: list[tuple[Account, Message]] = []
        for account in self.accounts.values():
            for order in list(account.pending.values()):
                if order.expiration is not None and now >= order.expiration:
                    order.status = ProtoOAOrderStatus.ORDER_STATUS_EXPIRED
                    order.updated = now
                    del account.pending[order.order_id]
                    position = self._release_pending_position(account, order, now)
                    out.append(
                        (
                            account,
                            self._event(
                                account, ProtoOAExecutionType.ORDER_EXPIRED, order=order, position=position
                            ),
                        )
                    )
                    continue
                spec = self.catalogue.symbols[order.symbol_id]
                market = self._fill_price(spec, order.side, now)
                buy = order.side == ProtoOATradeSide.BUY
                if order.order_type == ProtoOAOrderType.LIMIT:
                    assert order.limit_price is not None
                    triggered = market <= order.limit_price if buy else market >= order.limit_price
                else:
                    assert order.stop_price is not None
                    triggered = market >= order.stop_price if buy else market <= order.stop_price
                if triggered:
                    out.append((account, self._fill(account, order, market, now)))
            for position in list(account.open.values()):
                if position.stop_loss is None and position.take_profit is None:
                    continue
                out.extend((account, event) for event in self._check_position(account, position, now))
        return out

    def _check_position(self, account: Account, position: Position, now: int) -> list[Message]:
        spec = self.catalogue.symbols[position.symbol_id]
        price = self._close_price(spec, position.side, now)
        buy = position.side == ProtoOATradeSide.BUY
        events: list[Message] = []
        if position.trailing_stop_loss and position.stop_loss is not None:
            candidate = round(
                price - position.trailing_distance if buy else price + position.trailing_distance, spec.digits
            )
            if (buy and candidate > position.stop_loss) or (not buy and candidate < position.stop_loss):
                position.stop_loss = candidate
                position.updated = now
                protection = self._protection_order(account, position, now)
                events.append(
                    ProtoOATrailingSLChangedEvent(
                        ctid_trader_account_id=account.account_id,
                        position_id=position.position_id,
                        order_id=protection.order_id,
                        stop_price=candidate,
                        utc_last_update_timestamp=now,
                    )
                )
        sl, tp = position.stop_loss, position.take_profit
        hit = (sl is not None and (price <= sl if buy else price >= sl)) or (
            tp is not None and (price >= tp if buy else price <= tp)
        )
        if hit:
            order = self._protection_order(account, position, now)
            order.executed_volume = 0
            events.append(self._fill(account, order, price, now))
        return events

    # -----------------------------------------------------------------------------------------
    # History

    def deal_offsets(
        self, account: Account, deal_id: int
    ) -> tuple[list[ProtoOADealOffset], list[ProtoOADealOffset]]:
        """(offsetBy, offsetting) of a deal (``ProtoOADealOffsetListReq``).

        Raises:
            TradingError: ``ENTITY_NOT_FOUND`` for an unknown deal.
        """
        deal = account.deals.get(deal_id)
        if deal is None:
            raise TradingError("ENTITY_NOT_FOUND", f"Deal not found with id {deal_id}")

        def offsets(pairs: list[tuple[int, int]]) -> list[ProtoOADealOffset]:
            return [
                ProtoOADealOffset(
                    deal_id=other,
                    volume=volume,
                    execution_timestamp=account.deals[other].created,
                    execution_price=account.deals[other].price,
                )
                for other, volume in pairs
            ]

        return offsets(deal.offset_by), offsets(deal.offsetting)
