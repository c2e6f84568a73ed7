"""Feature pipelines: many specs, one batch pass over a frame, one incremental stepper.

Both paths drive the same numba kernels (:mod:`neo.features.kernels`) on the same state layout,
so the live loop sees exactly the numbers the model was trained on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from neo.domain.bar import Bar, BarBatch, BoolArray, FloatArray, IntArray
from neo.domain.errors import FeatureError
from neo.features import kernels
from neo.features import spec as spec_module
from neo.features.config import FeatureConfig
from neo.features.spec import FeatureSpec


@cache
def feature_code_version() -> str:
    """NEO's version and a digest of the feature kernels' and specs' source.

    A saved model records it; loading compares it, so features computed by changed kernel code
    (new formulas, new defaults) are never fed to a model trained on the old ones.
    """
    try:
        release = version("neo-trading")
    except PackageNotFoundError:  # pragma: no cover - the package is installed to run
        release = "unknown"
    digest = hashlib.sha256(release.encode())
    for module in (kernels, spec_module):
        digest.update(Path(str(module.__file__)).read_bytes())
    return f"{release}+{digest.hexdigest()[:12]}"


@dataclass(frozen=True, slots=True, eq=False)
class FeatureFrame:
    """Features of one instrument: ``values`` (n_bars x n_features, NaN during warm-up)."""

    values: FloatArray
    names: tuple[str, ...]
    ts: IntArray

    def __len__(self) -> int:
        return len(self.ts)

    def column(self, name: str) -> FloatArray:
        if name not in self.names:
            raise FeatureError(f"no feature named {name!r}; have {', '.join(self.names)}")
        column: FloatArray = self.values[:, self.names.index(name)]
        return column

    def valid_rows(self) -> BoolArray:
        """Rows where every feature is finite: the only rows a model ever sees."""
        mask: BoolArray = np.asarray(np.isfinite(self.values).all(axis=1), dtype=np.bool_)
        return mask

    def to_pandas(self) -> Any:
        import pandas as pd

        index = pd.DatetimeIndex(pd.to_datetime(self.ts, unit="ns", utc=True), name="ts")
        return pd.DataFrame(self.values, index=index, columns=list(self.names))


class IncrementalFeatures:
    """Bar-by-bar features for the live loop: one numba call updates every feature's state."""

    def __init__(self, pipeline: FeaturePipeline) -> None:
        self._pipeline = pipeline
        self._kinds = pipeline._kinds
        self._params = pipeline._params
        self._offsets = pipeline._offsets
        self._state = pipeline._new_state()
        self._bar = np.empty((1, 5), dtype=np.float64)
        self._ts = np.zeros(1, dtype=np.int64)
        self._context = np.full((1, max(1, len(pipeline.markets))), np.nan)
        self.bars_seen = 0

    @property
    def names(self) -> list[str]:
        return self._pipeline.names

    @property
    def ready(self) -> bool:
        """True once every feature is past its declared warm-up."""
        return self.bars_seen > self._pipeline.lookback

    def update(self, bar: Bar, context_bars: Mapping[str, Bar] | None = None) -> FloatArray:
        """Advance by one completed bar and return its feature vector (NaN during warm-up).

        ``context_bars`` maps each market key of the cross-asset features to that market's bar
        with the same ``ts``; a missing key carries the market's last close forward.
        """
        vector = self._bar
        vector[0, 0] = bar.open
        vector[0, 1] = bar.high
        vector[0, 2] = bar.low
        vector[0, 3] = bar.close
        vector[0, 4] = bar.volume
        self._ts[0] = bar.ts
        context = self._context
        for j, market in enumerate(self._pipeline.markets):
            found = context_bars.get(market) if context_bars else None
            context[0, j] = found.close if found is not None and found.ts == bar.ts else np.nan
        out = np.empty((1, len(self._kinds)), dtype=np.float64)
        kernels.step_all(
            self._kinds, self._params, self._offsets, self._state, self._ts, vector, context,
            out, 0,
        )  # fmt: skip
        self.bars_seen += 1
        row: FloatArray = out[0]
        return row

    def warm_up(
        self, batch: BarBatch, *, context: Mapping[str, BarBatch] | None = None
    ) -> FloatArray:
        """Feed a history (fast, in numba) and return the features of its last bar."""
        values = self._pipeline._run(batch, context, self._state)
        self.bars_seen += len(batch)
        last: FloatArray = values[-1].copy() if len(batch) else np.full(len(self._kinds), np.nan)
        return last


class FeaturePipeline:
    """An ordered set of features computed together.

    Parameters
    ----------
    specs
        The features, in column order; names must be unique.
    """

    def __init__(self, specs: Sequence[FeatureSpec]) -> None:
        specs = list(specs)
        if not specs:
            raise FeatureError("a feature pipeline needs at least one feature")
        names = [s.name for s in specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise FeatureError(f"duplicate feature names {duplicates}: give each a unique name")
        self.specs: tuple[FeatureSpec, ...] = tuple(specs)
        self.names: list[str] = names
        self.markets: list[str] = list(dict.fromkeys(s.market for s in specs if s.market))
        self.lookback: int = max(s.lookback for s in specs)
        sizes = [s.info.state_size(dict(s.params)) for s in specs]
        self._offsets: IntArray = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._kinds: IntArray = np.array([s.info.code for s in specs], dtype=np.int64)
        params = np.zeros((len(specs), kernels.N_PARAMS), dtype=np.float64)
        for i, spec in enumerate(specs):
            encoded = spec.info.encode(dict(spec.params))
            params[i, : len(encoded)] = encoded
            if spec.market is not None:
                params[i, 1] = self.markets.index(spec.market)
        self._params: FloatArray = params

    @classmethod
    def from_config(cls, items: Sequence[Mapping[str, Any]]) -> FeaturePipeline:
        """Build from config dicts such as ``[{"name": "rsi_14", "kind": "rsi"}]``."""
        return cls([FeatureSpec.parse(item) for item in items])

    def __len__(self) -> int:
        return len(self.specs)

    def lookbacks(self) -> dict[str, int]:
        return {s.name: s.lookback for s in self.specs}

    def to_config(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.specs]

    def spec_hash(self) -> str:
        """A digest of the specs (names, kinds, full params, order): equal means same features."""
        text = json.dumps(self.to_config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _new_state(self) -> FloatArray:
        return np.zeros(int(self._offsets[-1]), dtype=np.float64)

    def _context_matrix(
        self, batch: BarBatch, context: Mapping[str, BarBatch] | None
    ) -> FloatArray:
        """Market closes on the batch's timestamps (NaN where a market lacks that bar)."""
        matrix = np.full((len(batch), max(1, len(self.markets))), np.nan)
        for j, market in enumerate(self.markets):
            other = (context or {}).get(market)
            if other is None:
                raise FeatureError(
                    f"feature(s) need context series {market!r}: pass context={{{market!r}: "
                    "BarBatch}} (e.g. the market index or sector leader)"
                )
            pos = np.searchsorted(other.ts, batch.ts)
            pos_clipped = np.minimum(pos, max(len(other) - 1, 0))
            hit = (
                (pos < len(other)) & (other.ts[pos_clipped] == batch.ts) if len(other) else pos < 0
            )
            matrix[hit, j] = other.close[pos_clipped[hit]]
        return matrix

    def _run(
        self, batch: BarBatch, context: Mapping[str, BarBatch] | None, state: FloatArray
    ) -> FloatArray:
        bars = np.empty((len(batch), 5), dtype=np.float64)
        for j, column in enumerate((batch.open, batch.high, batch.low, batch.close, batch.volume)):
            bars[:, j] = column
        out = np.empty((len(batch), len(self.specs)), dtype=np.float64)
        ts = np.ascontiguousarray(batch.ts, dtype=np.int64)
        matrix = self._context_matrix(batch, context)
        kernels.run_batch(self._kinds, self._params, self._offsets, state, ts, bars, matrix, out)
        return out

    def compute(
        self, batch: BarBatch, *, context: Mapping[str, BarBatch] | None = None
    ) -> FeatureFrame:
        """Every feature over the whole batch; row i uses bars 0..i only."""
        values = self._run(batch, context, self._new_state())
        values.flags.writeable = False
        return FeatureFrame(values, tuple(self.names), np.asarray(batch.ts, dtype=np.int64))

    def incremental(self) -> IncrementalFeatures:
        """A fresh bar-by-bar stepper agreeing bit for bit with :meth:`compute`."""
        return IncrementalFeatures(self)


def default_pipeline() -> FeaturePipeline:
    """Twenty scale-free features a model uses when the config names none."""
    f = FeatureSpec.of
    return FeaturePipeline(
        [
            f("ret_1", "return", k=1),
            f("ret_5", "return", k=5),
            f("ret_20", "return", k=20),
            f("logret_1", "log_return", k=1),
            f("vol_20", "volatility", window=20),
            f("vol_60", "volatility", window=60),
            f("rsi_7", "rsi", window=7),
            f("rsi_14", "rsi", window=14),
            f("macd_hist", "macd", output="hist", normalize=True),
            f("bb_pctb_20", "bb_pctb", window=20),
            f("atr_14", "atr", window=14, normalize=True),
            f("adx_14", "adx", window=14),
            f("stoch_14_3", "stoch", k=14, d=3),
            f("obv_20", "obv", window=20),
            f("volume_z_20", "volume_zscore", window=20),
            f("skew_30", "skew", window=30),
            f("tod_sin", "time_of_day", component="sin"),
            f("tod_cos", "time_of_day", component="cos"),
            f("dow_sin", "day_of_week", component="sin"),
            f("dow_cos", "day_of_week", component="cos"),
        ]
    )


def pipeline_from_config(config: FeatureConfig) -> FeaturePipeline:
    """The pipeline the settings describe (``[features]``); see :class:`FeatureConfig`."""
    if config.specs:
        return FeaturePipeline.from_config(config.specs)
    pipeline = default_pipeline()
    if config.market is None:
        return pipeline
    market = config.market
    return FeaturePipeline(
        [
            *pipeline.specs,
            FeatureSpec.of("market_ret_1", "market_return", k=1, market=market),
            FeatureSpec.of("market_corr_20", "market_corr", window=20, market=market),
        ]
    )
