"""Several instruments on one cash account: the multi-instrument kernel against broker + ledger."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from neo.domain import (
    BarBatch,
    ConfigError,
    Event,
    FloatArray,
    Instrument,
    InstrumentId,
    Order,
    Side,
)
from neo.domain.order import next_order_id
from neo.execution import EquityRecorder, ExecutionConfig, Ledger, SimulatedBroker
from neo.execution.fastpath_multi import run_fast_path_many

from .helpers import random_walk

BTC = Instrument.simple("BTC/USDT", lot_size=1.0, taker_fee=0.001)
ETH = Instrument.simple("ETH/USDT", lot_size=0.1, taker_fee=0.0005, contract_multiplier=2.0)
SPECS = {BTC.id: BTC, ETH.id: ETH}
N = 300


def _batches() -> dict[InstrumentId, BarBatch]:
    out = {}
    for seed, spec in enumerate(SPECS.values()):
        walk = random_walk(N, seed=seed + 20, start=100.0 * (seed + 1))
        out[spec.id] = BarBatch.from_arrays(
            spec.id, walk.timeframe, ts=walk.ts, open=walk.open, high=walk.high, low=walk.low,
            close=walk.close, volume=walk.volume,
        )  # fmt: skip
    return out


def _targets() -> dict[InstrumentId, FloatArray]:
    rng = np.random.default_rng(9)
    btc = np.where(rng.random(N) < 0.2, rng.integers(-5, 6, N), np.nan).astype(float)
    eth = np.round(np.where(rng.random(N) < 0.3, rng.normal(0, 3, N), np.nan), 1)
    return {BTC.id: btc, ETH.id: eth}


def _event_path(
    batches: dict[InstrumentId, BarBatch],
    targets: dict[InstrumentId, FloatArray],
    config: ExecutionConfig,
) -> tuple[Ledger, FloatArray]:
    events: list[Event] = []
    ledger = Ledger(config.cash, SPECS)
    broker = SimulatedBroker(SPECS, config, events.append, ledger)
    recorder = EquityRecorder(list(SPECS))
    for i in range(N):
        ts = int(batches[BTC.id].ts[i])
        for iid, b in batches.items():
            broker.on_bar_open(iid, ts, float(b.open[i]), float(b.high[i]), float(b.low[i]),
                               float(b.close[i]), float(b.volume[i]))  # fmt: skip
            ledger.update_price(iid, float(b.close[i]), ts)
        for iid in batches:
            target = float(targets[iid][i])
            held = ledger.position(iid)
            if not math.isnan(target) and target != held:
                delta = target - held
                broker.submit(Order(id=next_order_id(), instrument=iid, quantity=abs(delta),
                                    side=Side.BUY if delta > 0 else Side.SELL))  # fmt: skip
        for iid, b in batches.items():
            broker.on_bar_close(iid, ts, float(b.close[i]))
        recorder.record_ledger(ts, ledger)
    return ledger, recorder.arrays().equity


CONFIGS = {
    "next_open": ExecutionConfig(),
    "close_slippage": ExecutionConfig(fill="close", slippage_bps=3.0),
    "impact_fees_bps": ExecutionConfig(impact="volume", fees_bps=4.0),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_multi_kernel_matches_broker_and_ledger(name: str) -> None:
    config = CONFIGS[name]
    batches, targets = _batches(), _targets()
    fast = run_fast_path_many(batches, targets, SPECS, config)
    ledger, equity = _event_path(batches, targets, config)
    fills = ledger.fills()
    assert len(fills) == len(fast.fill_bar) > 50
    for k, fill in enumerate(fills):
        assert fill.instrument == fast.instruments[fast.fill_instrument[k]]
        assert fill.signed_quantity == pytest.approx(fast.fill_quantity[k], abs=1e-9)
        assert fill.price == pytest.approx(fast.fill_price[k], rel=1e-12)
        assert fill.fee == pytest.approx(fast.fill_fee[k], rel=1e-12)
    assert [(t.instrument, round(t.quantity, 9)) for t in fast.trades()] == [
        (t.instrument, round(t.quantity, 9)) for t in ledger.trades()
    ]
    np.testing.assert_allclose(fast.equity, equity, rtol=1e-9)
    assert fast.final_equity == pytest.approx(ledger.equity, rel=1e-9)
    for iid in SPECS:
        assert fast.position(iid)[-1] == pytest.approx(ledger.position(iid), abs=1e-9)


def test_multi_kernel_refuses_misaligned_or_incomplete_input() -> None:
    batches, targets = _batches(), _targets()
    config = ExecutionConfig()
    with pytest.raises(ConfigError, match="at least one"):
        run_fast_path_many({}, {}, {}, config)
    shifted = dict(batches)
    shifted[ETH.id] = batches[ETH.id].slice(1, N)
    with pytest.raises(ConfigError, match="same timeline"):
        run_fast_path_many(shifted, targets, SPECS, config)
    with pytest.raises(ConfigError, match="targets and its Instrument"):
        run_fast_path_many(batches, {BTC.id: targets[BTC.id]}, SPECS, config)
    with pytest.raises(ConfigError, match="one value per bar"):
        run_fast_path_many(batches, {**targets, ETH.id: np.zeros(3)}, SPECS, config)
    with pytest.raises(ConfigError, match="participation_cap"):
        run_fast_path_many(batches, targets, SPECS, ExecutionConfig(participation_cap=0.1))
    empty = run_fast_path_many(
        {i: b.slice(0, 0) for i, b in batches.items()},
        {i: np.empty(0) for i in batches},
        SPECS,
        config,
    )
    assert empty.final_equity == config.cash


def test_compiled_multi_kernel_matches_its_python_source(monkeypatch: pytest.MonkeyPatch) -> None:
    from neo.execution import fastpath, fastpath_multi

    batches, targets = _batches(), _targets()
    ids = list(batches)
    args: tuple[Any, ...] = (
        *(np.column_stack([getattr(batches[i], c) for i in ids]) for c in ("open", "close")),
        np.column_stack([batches[i].volume for i in ids]),
        np.column_stack([targets[i] for i in ids]),
        1e6,
        np.array([[0.001, 1e-4, 0.1, 1.0], [0.0005, 1e-4, 0.1, 2.0]]),
    )
    kernel: Any = fastpath_multi._multi_kernel
    compiled = [kernel(*args, mode) for mode in (False, True)]
    monkeypatch.setattr(fastpath_multi, "_execution_price", fastpath._execution_price.py_func)
    monkeypatch.setattr(fastpath_multi, "_fill_fee", fastpath._fill_fee.py_func)
    for mode, expected in zip((False, True), compiled, strict=True):
        python = kernel.py_func(*args, mode)
        for a, b in zip(expected, python, strict=True):
            np.testing.assert_array_equal(a, b)
