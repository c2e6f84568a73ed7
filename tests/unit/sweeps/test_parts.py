"""The sweep's pieces: grid parsing, windows, segment figures, shared-indicator targets."""

from __future__ import annotations

import numpy as np
import pytest

from neo.domain.errors import ConfigError
from neo.engine.config import InstrumentSpec
from neo.engine.fast import strategy_targets
from neo.engine.instruments import default_instrument
from neo.strategies.registry import create_strategy
from neo.sweeps.grid import expand, parse_axis, parse_grid, strategy_class, work_order
from neo.sweeps.segments import window_stats
from neo.sweeps.vector import IndicatorCache, sweep_targets
from neo.sweeps.windows import walk_forward
from tests.unit.engine.bars import walk

SMA = strategy_class("sma_cross")


def test_grid_values_and_ranges_are_typed_by_the_strategy() -> None:
    assert parse_axis("fast=5, 10,5", SMA).values == (5, 10)
    axis = parse_axis("slow=20:40:10", SMA)
    assert axis.values == (20, 30, 40) and axis.is_range and axis.step == 10
    sizes = parse_axis("size=units:1, fraction:0.5", SMA)  # every strategy's sizing spec
    assert sizes.values == ("units:1", "fraction:0.5") and not sizes.is_range
    with pytest.raises(ConfigError, match=r"size=0\.5:1\.5:0\.5"):
        parse_axis("size=0.5:1.5:0.5", SMA)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast", "name=v1,v2"),
        ("speed=1,2", "no parameter 'speed'"),
        ("fast=1:x", "must be numbers"),
        ("fast=10:5", "start <= stop"),
        ("fast=1:2:3:4", "start:stop"),
        ("fast=0:100000000:1", "too many"),
    ],
)
def test_bad_grid_values_say_how_to_write_them(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_axis(text, SMA)


def test_expand_leaves_out_what_the_strategy_refuses() -> None:
    axes = parse_grid(["fast=10,20,30", "slow=20,30"], SMA)
    configs, refused = expand(axes, SMA, {"size": "3"})
    assert refused == 3  # 20/20, 30/20, 30/30
    assert configs == [
        {"fast": 10, "slow": 20, "size": "units:3"},
        {"fast": 10, "slow": 30, "size": "units:3"},
        {"fast": 20, "slow": 30, "size": "units:3"},
    ]
    with pytest.raises(ConfigError, match="more than once"):
        parse_grid(["fast=1", "fast=2"], SMA)


def test_work_order_groups_the_most_varied_parameter() -> None:
    configs = [{"fast": f, "slow": s} for f in (1, 2) for s in (10, 20, 30)]
    order = work_order(configs)
    assert [configs[i]["slow"] for i in order] == [10, 10, 20, 20, 30, 30]


def test_windows_tile_the_bars() -> None:
    windows = walk_forward(1003, 4, 0.75)
    assert [(w.start, w.split, w.stop) for w in windows] == [
        (0, 188, 250), (250, 438, 500), (500, 688, 750), (750, 940, 1003),
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="train-frac"):
        walk_forward(100, 2, 1.0)
    with pytest.raises(ConfigError, match="--windows"):
        walk_forward(100, 0, 0.5)


def test_window_figures_equal_numpy() -> None:
    rng = np.random.default_rng(2)
    equity = 1000.0 * np.cumprod(1 + rng.normal(0, 0.01, 97))
    stats = window_stats(equity, 1000.0, 60, 4)
    returns = equity / np.concatenate(([1000.0], equity[:-1])) - 1
    for part, values, base, end in (
        (stats.in_sample, returns[:60], 1000.0, equity[59]),
        (stats.out_of_sample, returns[60:], equity[59], equity[-1]),
    ):
        assert part.n == len(values)
        assert part.s1 == pytest.approx(values.sum())
        assert part.s4 == pytest.approx((values**4).sum())
        assert part.total_return == pytest.approx(end / base - 1)
        assert part.sharpe_per_bar == pytest.approx(values.mean() / values.std(ddof=1))
        curve = np.concatenate(([base], equity[:60] if base == 1000.0 else equity[60:]))
        assert part.max_drawdown == pytest.approx(np.min(curve / np.maximum.accumulate(curve) - 1))
    edges = [0, 25, 49, 73, 97]  # bar i is in block i * 4 // 97
    for k in range(4):
        chunk = returns[edges[k] : edges[k + 1]]
        assert stats.block_n[k] == len(chunk)
        assert stats.block_sumsq[k] == pytest.approx((chunk**2).sum())
    with pytest.raises(ValueError, match="split"):
        window_stats(equity, 1000.0, 0, 4)


@pytest.mark.parametrize("name", ["sma_cross", "ema_cross"])
@pytest.mark.parametrize("size", [None, 2.5, 7.0])
def test_shared_indicator_targets_equal_the_strategys_own(name: str, size: float | None) -> None:
    batch = walk(3000, seed=8)
    instrument = InstrumentSpec(lot_size=2.0).build(batch.instrument)
    cache = IndicatorCache()
    for fast, slow in ((3, 9), (5, 9), (3, 40), (20, 40)):
        strategy = create_strategy(name, {"fast": fast, "slow": slow, "size": size})
        mine = sweep_targets(strategy, batch, instrument, cache, "w")
        theirs = strategy_targets(strategy, batch, instrument)
        np.testing.assert_array_equal(mine, theirs)
    assert cache.hits == 3 and cache.misses == 5  # periods 3, 9, 5, 40, 20 computed once


def test_other_strategies_use_their_own_vector_form() -> None:
    batch = walk(500, seed=8)
    spec = default_instrument(batch.instrument)
    strategy = create_strategy("rsi_reversion", {"period": 7})
    np.testing.assert_array_equal(
        sweep_targets(strategy, batch, spec, IndicatorCache(), "w"),
        strategy_targets(strategy, batch, spec),
    )


def test_the_indicator_cache_drops_the_least_recently_used() -> None:
    cache = IndicatorCache(max_bytes=3 * 80)
    for key in range(5):
        cache.get(key, lambda: np.zeros(10))
    cache.get(4, lambda: np.ones(10))
    assert cache.hits == 1 and cache.misses == 5
    cache.get(0, lambda: np.ones(10))
    assert cache.misses == 6
    cache.clear()
    assert cache.get(9, lambda: np.ones(1))[0] == 1.0


def test_optuna_proposals_follow_the_axes() -> None:
    import optuna

    from neo.sweeps.search import suggest

    axes = parse_grid(["fast=5:50:5", "size=units:1,units:2", "slow=20,40"], SMA)
    trial = optuna.trial.FixedTrial({"fast": 15, "size": "units:2", "slow": 40})
    assert suggest(trial, axes) == {"fast": 15, "size": "units:2", "slow": 40}


def test_auto_backend_is_ray_when_installed() -> None:
    from neo.sweeps.backends import ray_available, resolve_backend

    assert resolve_backend("auto", None) == ("ray" if ray_available() else "pool")
    assert resolve_backend("auto", "ray://head:10001") == "ray"
    assert resolve_backend("pool", None) == "pool"
    with pytest.raises(ConfigError, match="unknown --backend"):
        resolve_backend("slurm", None)
