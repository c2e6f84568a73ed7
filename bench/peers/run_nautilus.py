"""NautilusTrader peer: BacktestEngine, a bar-driven MA-cross strategy adapted from its EMACross.

Changes from the example: fixed quantity (size units), long/short reversal with one netting order
of 2x size, and an explicit crossover test (previous vs current fast-slow difference) so signals
match the other engines. The venue is a simulated margin account with ample cash trading a
linear perpetual whose taker fee is fees_bps, settled in USD (2 decimals: with USDT's 8 a
balance of 1e9 breaks the account's fixed-point consistency check). NautilusTrader fills a
market order sent from on_bar at that bar's close; make_data.py opens every bar at the previous
close, so this is the same price as the other engines' next-bar open. Only `engine.run()` is
timed; building Bar objects and loading them into the engine are not.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal

import pandas as pd
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.common.config import LoggingConfig
from nautilus_trader.config import StrategyConfig
from nautilus_trader.indicators import ExponentialMovingAverage, SimpleMovingAverage
from nautilus_trader.model.currencies import BTC, USD
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.persistence.wranglers import BarDataWrangler
from nautilus_trader.trading.strategy import Strategy
from peer_common import emit, load_bars, parse_args

VENUE = Venue("SIM")
PRICE_DECIMALS = 6  # make_data.py writes prices on a 1e-6 grid


class MaCrossConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    bar_type: BarType
    kind: str = "ema"
    fast: int = 10
    slow: int = 20
    trade_size: Decimal = Decimal(100)


class MaCross(Strategy):
    def __init__(self, config: MaCrossConfig) -> None:
        super().__init__(config)
        indicator = ExponentialMovingAverage if config.kind == "ema" else SimpleMovingAverage
        self.fast_ma = indicator(config.fast)
        self.slow_ma = indicator(config.slow)
        self.previous_diff = math.nan
        self.side = 0  # +1 long, -1 short, 0 flat
        self.entries = 0

    def on_start(self) -> None:
        instrument = self.cache.instrument(self.config.instrument_id)
        self.one_leg = instrument.make_qty(self.config.trade_size)
        self.two_legs = instrument.make_qty(2 * self.config.trade_size)
        self.register_indicator_for_bars(self.config.bar_type, self.fast_ma)
        self.register_indicator_for_bars(self.config.bar_type, self.slow_ma)
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        if not (self.fast_ma.initialized and self.slow_ma.initialized):
            return
        diff = self.fast_ma.value - self.slow_ma.value
        previous, self.previous_diff = self.previous_diff, diff
        if previous < 0 < diff and self.side <= 0:
            self._enter(OrderSide.BUY, +1)
        elif previous > 0 > diff and self.side >= 0:
            self._enter(OrderSide.SELL, -1)

    def _enter(self, side: OrderSide, new_side: int) -> None:
        quantity = self.one_leg if self.side == 0 else self.two_legs
        order = self.order_factory.market(self.config.instrument_id, side, quantity)
        self.submit_order(order)
        self.side = new_side
        self.entries += 1


def perpetual(fee_rate: float) -> CryptoPerpetual:
    fee = Decimal(str(fee_rate))
    return CryptoPerpetual(
        instrument_id=InstrumentId(Symbol("BTCUSD-PERP"), VENUE),
        raw_symbol=Symbol("BTCUSD"),
        base_currency=BTC,
        quote_currency=USD,
        settlement_currency=USD,
        is_inverse=False,
        price_precision=PRICE_DECIMALS,
        price_increment=Price(10.0**-PRICE_DECIMALS, PRICE_DECIMALS),
        size_precision=0,
        size_increment=Quantity.from_int(1),
        max_quantity=None,
        min_quantity=Quantity.from_int(1),
        max_notional=None,
        min_notional=None,
        max_price=None,
        min_price=None,
        margin_init=Decimal("0.05"),
        margin_maint=Decimal("0.025"),
        maker_fee=fee,
        taker_fee=fee,
        ts_event=0,
        ts_init=0,
    )


def main() -> None:
    spec = parse_args("nautilus_trader")
    columns = load_bars(spec.data)
    # No volume column: the wrangler then gives every bar 1e6 units, so a 200-unit market
    # order never walks past the top of the simulated L1 book (bar volume plays no other role).
    frame = pd.DataFrame(
        {name: columns[name] for name in ("open", "high", "low", "close")},
        index=pd.to_datetime(columns["timestamp"], unit="ms", utc=True),
    )
    instrument = perpetual(spec.fee_rate)
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    bars = BarDataWrangler(bar_type, instrument).process(frame)
    del frame, columns

    engine = BacktestEngine(
        BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR", print_config=False))
    )
    engine.add_venue(
        venue=VENUE,
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        starting_balances=[Money(spec.cash, USD)],
        base_currency=USD,
        default_leverage=Decimal(1),
    )
    engine.add_instrument(instrument)
    engine.add_data(bars)
    strategy = MaCross(
        MaCrossConfig(
            instrument_id=instrument.id,
            bar_type=bar_type,
            kind=spec.strategy,
            fast=spec.fast,
            slow=spec.slow,
            trade_size=Decimal(str(spec.size)),
        )
    )
    engine.add_strategy(strategy)
    n_bars = len(bars)
    del bars

    start = time.perf_counter()
    engine.run()
    seconds = time.perf_counter() - start

    account = engine.portfolio.account(VENUE)
    unrealized = engine.portfolio.unrealized_pnl(instrument.id)
    final_equity = account.balance_total(USD).as_double()
    final_equity += unrealized.as_double() if unrealized is not None else 0.0
    filled = sum(1 for order in engine.cache.orders() if order.is_closed and order.filled_qty > 0)
    engine.dispose()
    emit("nautilus_trader", spec, n_bars, seconds, strategy.entries, final_equity, filled=filled)


if __name__ == "__main__":
    main()
