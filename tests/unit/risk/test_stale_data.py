"""Stale market data stops new exposure (``stale_data``) and lets every exit through."""

from __future__ import annotations

from neo.domain.enums import Side
from neo.domain.ids import InstrumentId
from neo.risk import REASON_CODES, PreTradeRiskGate, RiskConfig, StalenessSource
from tests.unit.risk.test_gate import BTC, ETH, INSTRUMENTS, account, order


class Flags:
    """A staleness source whose answers the test sets; it records what it was asked."""

    def __init__(self) -> None:
        self.stale: set[InstrumentId] = set()
        self.asked: list[tuple[InstrumentId, int | None]] = []

    def is_stale(self, instrument: InstrumentId, engine_ts: int | None = None) -> bool:
        self.asked.append((instrument, engine_ts))
        return instrument in self.stale


def gate(flags: StalenessSource) -> PreTradeRiskGate:
    return PreTradeRiskGate(RiskConfig(), None, INSTRUMENTS, staleness=flags)


def test_stale_data_denies_an_entry_and_an_increase_with_its_code() -> None:
    flags = Flags()
    flags.stale.add(BTC)
    g = gate(flags)
    flat = account()
    verdict = g.check(order(qty=1.0), flat)
    assert not verdict.approved and verdict.code == "stale_data" and "BTC/USDT" in verdict.reason
    long = account()
    long.positions[BTC] = 2.0
    assert g.check(order(qty=1.0), long).code == "stale_data"  # increase
    assert g.check(order(Side.SELL, qty=3.0), long).code == "stale_data"  # flips: new short
    assert g.counters["stale_data"] == 3 and "stale_data" in REASON_CODES
    assert [e.code for e in g.events] == ["stale_data"] * 3
    assert flags.asked[0] == (BTC, flat.ts)  # judged at the engine's time


def test_stale_data_lets_reducing_and_closing_orders_through() -> None:
    flags = Flags()
    flags.stale.add(BTC)
    g = gate(flags)
    long = account()
    long.positions[BTC] = 2.0
    assert g.check(order(Side.SELL, qty=1.0), long).approved  # reduce
    assert g.check(order(Side.SELL, qty=2.0), long).approved  # close
    assert g.check(order(Side.SELL, qty=2.0, reduce_only=True), long).approved
    assert not g.counters


def test_only_the_stale_instrument_is_stopped_and_it_clears_when_fresh() -> None:
    flags = Flags()
    flags.stale.add(BTC)
    g = gate(flags)
    acc = account()
    assert g.check(order(iid=ETH, qty=1.0), acc).approved
    assert g.check(order(qty=1.0), acc).code == "stale_data"
    flags.stale.clear()
    assert g.check(order(qty=1.0), acc).approved


def test_without_a_source_data_is_never_stale() -> None:
    g = PreTradeRiskGate(RiskConfig(), None, INSTRUMENTS)
    assert g.staleness is None and g.check(order(qty=1.0), account()).approved
