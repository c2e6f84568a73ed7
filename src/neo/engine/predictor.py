"""Forecasts for paper and live trading: the latest model on incrementally updated features.

In a backtest, predictions come as walk-forward arrays aligned to the bars; live, each completed
bar advances the model's own feature pipeline by one step (no look-back recomputation) and the
model scores that one row. Any object with ``predict(bar) -> float`` can stand in
(:class:`neo.engine.loop.Predictor`).

Two things make the live numbers equal the batch ones the model was trained and backtested on:

* **Cross-asset features.** The loop calls :meth:`ModelPredictor.predict` for every traded
  instrument's bar, so the predictor remembers the latest bar of each *market* instrument (the
  context series of ``market_*`` features) as it comes by, and hands it to the other
  instruments' feature states when its timestamp equals theirs. A market bar from a later
  timestamp is never used (no look-ahead). A market that is not traded cannot be seen at all,
  which :meth:`ModelPredictor.prepare` refuses at start; it also puts the markets first in the
  feed's order, so within one timestamp the market's bar always arrives before the others.
  A market bar that is still missing is counted (``stats.market_missing``) and logged; the
  feature then carries the market's last close, exactly as the batch path does for a market
  that lacks a bar.
* **Warm-up.** Given a history source (the store, for replay and the demo), each instrument's
  state is first fed every stored bar strictly before its first live bar, so forecasts start at
  once instead of after the lookback, and recursive indicators (RSI, ATR, MACD…) carry the same
  history as in batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from neo.domain.bar import Bar, BarBatch, FloatArray
from neo.domain.errors import ConfigError, DataNotFoundError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.logs import get_logger
from neo.models.forecast import signed_forecast

if TYPE_CHECKING:
    from neo.data.store import HistoricalDataStore
    from neo.features.config import FeatureConfig

log = get_logger("engine.predictor")


class IncrementalFeatureState(Protocol):
    def update(self, bar: Bar, context_bars: Mapping[str, Bar] | None = None) -> FloatArray:
        """Advance by one completed bar; the feature row (NaN during warm-up).

        ``context_bars`` maps each market key to that market's bar of the same ``ts``.
        """
        ...


@runtime_checkable
class WarmableFeatureState(Protocol):
    def warm_up(
        self, batch: BarBatch, *, context: Mapping[str, BarBatch] | None = None
    ) -> FloatArray: ...


class ScoringModel(Protocol):
    def predict(self, x: Any) -> FloatArray: ...


HistorySource = Callable[[InstrumentId, Timeframe, int], BarBatch | None]
"""``history(instrument, timeframe, end_ns)``: stored bars with ``ts < end_ns`` (or None)."""


def store_history(store: HistoricalDataStore) -> HistorySource:
    """Warm-up history read from the historical store (nothing stored: None, a cold start)."""

    def read(instrument: InstrumentId, timeframe: Timeframe, end_ns: int) -> BarBatch | None:
        try:
            return store.read(instrument, timeframe, None, end_ns)
        except DataNotFoundError:
            return None

    return read


@dataclass(slots=True)
class PredictorStats:
    """What the predictor did: forecasts made, and why the others were NaN."""

    bars: int = 0
    forecasts: int = 0
    warming: int = 0
    """NaN because the features were still inside their declared lookback."""
    nan_features: int = 0
    """NaN after the lookback: an input (usually a market series) was missing."""
    market_missing: int = 0
    """Bars for which a market's bar of the same timestamp had not arrived."""
    warmed_bars: int = 0
    """History bars fed to the feature states before the first live bar."""


def _before(history: HistorySource, instrument: InstrumentId, bar: Bar) -> BarBatch | None:
    """Stored bars of ``instrument`` strictly before ``bar`` (never the bar itself)."""
    batch = history(instrument, bar.timeframe, bar.ts)
    if batch is None:
        return None
    stop = int(np.searchsorted(batch.ts, bar.ts, side="left"))
    return batch if stop == len(batch) else batch.slice(0, stop)


class ModelPredictor:
    """A model plus one incremental feature state per instrument.

    Parameters
    ----------
    model:
        Anything with ``predict(row) -> array`` (a ``neo.models`` model).
    features:
        Makes a fresh incremental feature state (``FeaturePipeline.incremental``); one is made
        per instrument on its first bar.
    model_id:
        Recorded for events and status lines.
    task:
        ``classification`` (the model scores P(up), mapped to ``2p - 1``) or ``regression``
        (a forecast return): strategies always read a signed forecast.
    markets:
        Market key of the cross-asset features → the instrument whose bars it reads.
    history:
        Bars before the first live bar, to warm each instrument's state (see module docs).
    lookback:
        The features' declared warm-up in bars (tells warm-up NaNs from missing inputs).
    timeframe:
        The bar length the model was trained on; :meth:`prepare` rejects any other.
    training_end:
        Timestamp (ns) of the last bar the model learned from: a replay that starts at or
        before it is in sample (``neo paper`` refuses it unless ``--allow-in-sample``).
    """

    def __init__(
        self,
        model: ScoringModel,
        features: Callable[[], IncrementalFeatureState],
        *,
        model_id: str = "",
        task: str = "regression",
        markets: Mapping[str, InstrumentId] | None = None,
        history: HistorySource | None = None,
        lookback: int = 0,
        timeframe: Timeframe | None = None,
        training_end: int | None = None,
    ) -> None:
        self.model = model
        self.training_end = training_end
        self.model_id = model_id
        self.task = task
        self.markets: dict[str, InstrumentId] = dict(markets or {})
        self.timeframe = timeframe
        self.stats = PredictorStats()
        self._features = features
        self.history = history
        self._lookback = lookback
        self._states: dict[InstrumentId, IncrementalFeatureState] = {}
        self._seen: dict[InstrumentId, int] = {}
        self._latest: dict[InstrumentId, Bar] = {}
        self._missed: dict[str, int] = {}
        self._warned: set[str] = set()
        self._warmed: dict[InstrumentId, int] = {}

    # ------------------------------------------------------------------ set-up
    def prepare(
        self, instruments: Sequence[InstrumentId], timeframe: Timeframe | None = None
    ) -> list[InstrumentId]:
        """Check the feed can serve this model; the instruments with the markets first.

        Raises
        ------
        ConfigError
            A market series is not among the instruments fed, or the timeframe differs from
            the model's.
        """
        if timeframe is not None and self.timeframe is not None and timeframe != self.timeframe:
            raise ConfigError(
                f"model {self.model_id or '?'} was trained on {self.timeframe} bars but the feed "
                f"gives {timeframe}: use --timeframe {self.timeframe}"
            )
        fed = list(dict.fromkeys(instruments))
        missing = [f"{key} ({iid})" for key, iid in self.markets.items() if iid not in fed]
        if missing:
            raise ConfigError(
                f"model {self.model_id or '?'} reads market series {', '.join(missing)} that "
                "the feed does not give: add them to --symbols"
            )
        first = [iid for iid in self.markets.values() if iid in fed]
        return list(dict.fromkeys([*first, *fed]))

    # ------------------------------------------------------------------ per bar
    def predict(self, bar: Bar) -> float:
        self.stats.bars += 1
        if bar.instrument in self._market_ids():
            self._remember_market(bar)
        state = self._states.get(bar.instrument)
        if state is None:
            state = self._states[bar.instrument] = self._new_state(bar)
        if self.markets:
            row = np.asarray(state.update(bar, self._context_of(bar)), dtype=np.float64)
        else:
            row = np.asarray(state.update(bar), dtype=np.float64)
        self._seen[bar.instrument] = self._seen.get(bar.instrument, 0) + 1
        if not np.isfinite(row).all():
            self._count_nan(bar)
            return math.nan
        raw = np.asarray(self.model.predict(row[None, :]), dtype=np.float64).ravel()[:1]
        value = float(signed_forecast(raw, self.task)[0])
        if not math.isfinite(value):
            return math.nan
        self.stats.forecasts += 1
        return value

    def _market_ids(self) -> set[InstrumentId]:
        return set(self.markets.values())

    def _remember_market(self, bar: Bar) -> None:
        self._latest[bar.instrument] = bar
        for key, iid in self.markets.items():
            if iid == bar.instrument and self._missed.pop(key, None) == bar.ts:
                log.error(
                    "market bar arrived after other instruments' bars of the same time: their "
                    "cross-asset features used the previous close; list the market first",
                    extra={"market": key, "ts": bar.ts, "model": self.model_id},
                )

    def _context_of(self, bar: Bar) -> dict[str, Bar]:
        """Each market's bar of this bar's timestamp; never a later one (no look-ahead)."""
        context: dict[str, Bar] = {}
        for key, iid in self.markets.items():
            latest = self._latest.get(iid)
            if latest is not None and latest.ts == bar.ts:
                context[key] = latest
                continue
            self.stats.market_missing += 1
            self._missed[key] = bar.ts
            self._warn_once(
                f"missing:{key}",
                "no market bar at this bar's time: the cross-asset feature carries the "
                "market's last close (NaN until the market's first bar)",
                market=key,
                instrument=str(bar.instrument),
            )
        return context

    def _count_nan(self, bar: Bar) -> None:
        if self._seen[bar.instrument] + self._warmed.get(bar.instrument, 0) <= self._lookback:
            self.stats.warming += 1
            return
        self.stats.nan_features += 1
        self._warn_once(
            f"nan:{bar.instrument}",
            "features are NaN after their warm-up: no forecast (is a market series missing?)",
            instrument=str(bar.instrument),
        )

    def _warn_once(self, key: str, message: str, **extra: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, extra={**extra, "model": self.model_id})

    # ------------------------------------------------------------------ warm-up
    def _new_state(self, bar: Bar) -> IncrementalFeatureState:
        state = self._features()
        history = self.history
        if history is None or not isinstance(state, WarmableFeatureState):
            return state
        own = _before(history, bar.instrument, bar)
        context: dict[str, BarBatch] = {}
        for key, iid in self.markets.items():
            found = _before(history, iid, bar)
            if found is None:
                log.warning(
                    "no stored history of a market series: starting cold",
                    extra={"market": key, "instrument": str(bar.instrument)},
                )
                return state
            context[key] = found
        if own is None or len(own) == 0:
            return state
        state.warm_up(own, context=context or None)
        self._warmed[bar.instrument] = len(own)
        self.stats.warmed_bars += len(own)
        return state

    # ------------------------------------------------------------------ from the registry
    @classmethod
    def from_registry(
        cls,
        root: Path,
        model_id: str,
        *,
        features: FeatureConfig | None = None,
        history: HistorySource | None = None,
    ) -> ModelPredictor:
        """The registered model with the feature pipeline it was trained on.

        ``features`` is the ``[features]`` configuration in force, if one was given: it must
        build the very pipeline the model was trained on, or a FeatureSpecMismatchError names
        the differences (see :func:`neo.models.registry.resolve_pipeline`).
        """
        from neo.models.registry import ModelRegistry, market_instruments, resolve_pipeline

        registry = ModelRegistry(root)
        metadata = registry.metadata(model_id)
        pipeline = resolve_pipeline(metadata, features)
        model, metadata = registry.load_with_metadata(model_id, pipeline)
        timeframe = metadata.get("timeframe")
        window = metadata.get("training_window") or {}
        end = window.get("end_ns", window.get("end"))
        return cls(
            model,
            pipeline.incremental,
            model_id=model_id,
            task=str(metadata.get("task", "regression")),
            markets=market_instruments(metadata),
            history=history,
            lookback=pipeline.lookback,
            timeframe=Timeframe.parse(timeframe) if timeframe else None,
            training_end=end if isinstance(end, int) else None,
        )
