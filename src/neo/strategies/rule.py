"""Strategies stated once, as a rule over indicator values, for both the event and fast paths.

A :class:`RuleStrategy` names its inputs (:meth:`~RuleStrategy.inputs`: indicators over a price
field) and states its decision once (:meth:`~RuleStrategy.rule`): a sequence of
``(condition, signal)`` pairs, the first true condition giving the bar's signal, none of them
keeping what is held. The rule is written with comparisons, arithmetic and ``&``/``|`` (not
``and``/``or``/``if``), so the same code evaluates on one bar's floats (``on_bar``, derived) and
on whole-history arrays (``vector_targets``, derived): the two paths cannot drift apart.

``now`` holds each input's value at bar ``i`` plus ``close`` and ``prediction``; ``before`` the
same at ``i - 1`` (NaN at the first bar). A comparison with NaN is false, so warm-up bars keep.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neo.domain.bar import BarBatch, FloatArray
from neo.domain.errors import StrategyError
from neo.strategies.base import Strategy

if TYPE_CHECKING:
    from neo.strategies.context import Series, StrategyContext

Rule = Sequence[tuple[Any, Any]]
"""``(condition, signal)`` pairs; the first true condition's signal is the bar's signal."""
_FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class Input:
    """One indicator a rule reads: ``func(values_of_source, *args)``, causal (see
    :meth:`~neo.strategies.context.StrategyContext.indicator`)."""

    func: Callable[..., FloatArray]
    args: tuple[Any, ...] = ()
    source: str = "close"
    lookback: int | None = None
    plot: str | None = None
    """A label to draw the series over the price in the run report (price-scale inputs only)."""


def indicator(
    func: Callable[..., FloatArray],
    *args: Any,
    source: str = "close",
    lookback: int | None = None,
    plot: str | None = None,
) -> Input:
    """An input of a rule: ``indicator(sma, 20)`` is the 20-bar SMA of the close;
    ``plot="SMA 20"`` also draws it on the report's price chart."""
    if source not in _FIELDS:
        raise StrategyError(f"indicator source {source!r}: use one of {', '.join(_FIELDS)}")
    return Input(func, args, source, lookback, plot)


class Values:
    """Named values of a rule's inputs: one bar's floats, or whole-history arrays."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # only reached for a name that is not there
        raise StrategyError(
            f"the rule reads {name!r}, which is not one of its inputs ({', '.join(self.__dict__)})"
        )


def first_signal(rule: Rule) -> float:
    """The signal of the first true condition of one bar's rule; NaN when none holds."""
    for condition, signal in rule:
        if condition:
            return float(signal)
    return math.nan


class RuleStrategy(Strategy):
    """A strategy whose decision is one rule: ``on_bar`` and ``vector_targets`` derive from it.

    Subclasses implement :meth:`rule` and usually :meth:`inputs`; signals go through
    ``ctx.signal`` (sized by the run's sizing) and, as forecasts, to a portfolio constructor.
    """

    _series: list[tuple[str, Series]]
    _now: Values
    _before: Values

    def inputs(self) -> Mapping[str, Input]:
        """The indicators the rule reads, by name (``close`` and ``prediction`` always)."""
        return {}

    @abstractmethod
    def rule(self, now: Values, before: Values) -> Rule:
        """``(condition, signal)`` pairs over the inputs at bar ``i`` (``now``) and ``i - 1``."""

    def on_start(self, ctx: StrategyContext) -> None:
        self._series = []
        for name, spec in self.inputs().items():
            series = ctx.indicator(spec.func, spec.source, *spec.args, lookback=spec.lookback)
            if spec.plot:
                ctx.plot(spec.plot, series)
            self._series.append((name, series))
        self._series.append(("close", ctx.close))
        self._now = Values()
        self._before = Values()
        self._known = self._signals_so_far(ctx)

    def _signals_so_far(self, ctx: StrategyContext) -> Sequence[float]:
        """The rule's signal for every bar the context already holds (a backtest's whole
        history), evaluated once on arrays: each entry reads bars ``i - 1`` and ``i`` of causal
        inputs only, exactly what :meth:`decide` computes bar by bar (and does for the bars
        appended later, in paper and live trading)."""
        n = len(ctx.ts)
        if n == 0:
            return array("d")
        now: dict[str, Any] = {
            name: np.asarray(series, dtype=np.float64)[:n] for name, series in self._series
        }
        given = np.asarray(ctx.predictions, dtype=np.float64)[:n]
        now["prediction"] = np.concatenate((given, np.full(n - len(given), np.nan)))
        return array("d", self._on_arrays(now, n).tobytes())

    def decide(self, ctx: StrategyContext) -> float:
        """This bar's signal (NaN: keep) from the rule on the inputs at ``ctx.i``."""
        i = ctx.i
        if i < len(self._known):
            return self._known[i]
        now, before = self._now, self._before
        at_now, at_before = now.__dict__, before.__dict__  # reused: no objects per bar
        if i:
            for name, series in self._series:
                at_now[name] = series[i]
                at_before[name] = series[i - 1]
        else:
            for name, series in self._series:
                at_now[name] = series[i]
                at_before[name] = math.nan
        predictions = ctx.predictions
        n = len(predictions)
        at_now["prediction"] = predictions[i] if i < n else math.nan
        at_before["prediction"] = predictions[i - 1] if 0 < i <= n else math.nan
        for condition, signal in self.rule(now, before):
            if condition:
                return float(signal)
        return math.nan

    def on_bar(self, ctx: StrategyContext) -> None:
        value = self.decide(ctx)
        if value == value:
            ctx.signal(value)
            if ctx.forecast != ctx.forecast:  # the portfolio reads it (when one is configured)
                ctx.set_forecast(value)

    def evaluate(
        self, now: Mapping[str, float], before: Mapping[str, float] | None = None
    ) -> float:
        """The rule on given values (tests, exploration); missing ``before`` values are NaN."""
        previous = {key: math.nan for key in now} | dict(before or {})
        return first_signal(self.rule(Values(**now), Values(**previous)))

    def vector_targets(
        self, bars: BarBatch, predictions: FloatArray | None = None
    ) -> FloatArray | None:
        """The rule over the whole history at once (the same expressions, on arrays)."""
        n = len(bars)
        columns = {name: np.asarray(getattr(bars, name), dtype=np.float64) for name in _FIELDS}
        now: dict[str, Any] = {
            name: np.asarray(spec.func(columns[spec.source], *spec.args), dtype=np.float64)
            for name, spec in self.inputs().items()
        }
        now["close"] = columns["close"]
        now["prediction"] = (
            np.full(n, np.nan) if predictions is None else np.asarray(predictions, np.float64)
        )
        return self._on_arrays(now, n)

    def _on_arrays(self, now: dict[str, Any], n: int) -> FloatArray:
        """The rule on whole-history input arrays (``before`` is ``now`` shifted by one)."""
        before = {name: np.concatenate(([np.nan], values[:-1])) for name, values in now.items()}
        try:
            with np.errstate(invalid="ignore"):
                pairs = list(self.rule(Values(**now), Values(**before)))
                conditions = [np.broadcast_to(np.asarray(c, dtype=bool), (n,)) for c, _ in pairs]
                signals = [np.broadcast_to(np.asarray(s, dtype=np.float64), (n,)) for _, s in pairs]
        except ValueError as exc:
            raise StrategyError(
                f"{self.name}: its rule does not evaluate on arrays ({exc}); combine conditions "
                "with & and | (parenthesised), not and/or/if"
            ) from None
        targets: FloatArray = np.select(conditions, signals, default=np.nan)
        return targets
