"""The ingestion service: read → validate → store → quarantine → statistics, in one place.

The CLI uses it now and the REST API will later, so both report the same numbers. For every
ingestion ``accepted + rejected + merged_duplicates == rows_read``: rejected rows go to the
quarantine with their reasons and source, identical duplicates are merged, nothing is dropped.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neo.data.config import ValidationConfig
from neo.data.feeds.files import read_bar_file
from neo.data.infer import infer_timeframe
from neo.data.store.historical import DatasetInfo, ExportResult, HistoricalDataStore
from neo.data.store.provenance import Provenance
from neo.data.validate import DataValidator, RawBars, as_raw_bars
from neo.domain.bar import BarBatch
from neo.domain.errors import DataFormatError, DataNotFoundError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.logs import get_logger

if TYPE_CHECKING:
    from neo.settings import NeoSettings

log = get_logger("data.ingest")
_WARNING_SAMPLES = 20
_PREV_CLOSE_LOOKBACK_BARS = 10_000


@dataclass(frozen=True, slots=True)
class IngestReport:
    """The outcome of one ingestion; ``to_dict()`` is what ``neo ingest --json`` prints.

    ``stored`` counts rows the store did not already hold identically (inserted + updated);
    ``accepted`` rows are in the store after the call either way. Likewise ``rejected`` rows
    are in the quarantine (``quarantine_path``) after the call; ``quarantine_added`` of them
    were not there before. ``timeframe_inferred`` is True when no timeframe was given and it
    was read from the median spacing of the timestamps.
    """

    instrument: str
    timeframe: str
    source: str
    rows_read: int
    accepted: int
    rejected: int
    merged_duplicates: int
    warnings: int
    counts_by_rule: dict[str, int]
    stored: int
    inserted: int
    updated: int
    unchanged: int
    gaps: int
    missing_bars: int
    quarantine_path: str | None
    quarantine_added: int
    first_ts: int | None
    last_ts: int | None
    seconds: float
    warning_samples: list[dict[str, Any]] = field(default_factory=list)
    timeframe_inferred: bool = False
    replaced: int = 0
    other_sources: list[str] = field(default_factory=list)
    """Sources that had stored bars in the series this ingestion added bars to."""

    @property
    def ok(self) -> bool:
        """True when at least one row was accepted (``neo ingest`` exits 0)."""
        return self.accepted > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DataIngestionAPI:
    """Validate and store market data; report what happened to every row.

    Parameters
    ----------
    store:
        Where accepted bars and quarantined rows go.
    validator_config:
        Validation limits (default :class:`ValidationConfig`).
    """

    def __init__(
        self, store: HistoricalDataStore, validator_config: ValidationConfig | None = None
    ) -> None:
        self.store = store
        self.validator_config = validator_config or ValidationConfig()

    def ingest_file(
        self,
        path: Path | str,
        *,
        venue: str,
        symbol: str,
        timeframe: Timeframe | str | None = None,
        fmt: str | None = None,
        replace: bool = False,
    ) -> IngestReport:
        """Ingest one file (CSV, Parquet, feather, ccxt/freqtrade JSON) of one instrument.

        ``timeframe`` None infers it from the file (see :func:`~neo.data.infer.infer_timeframe`).
        The source is recorded as the absolute path, so quarantined rows can be traced however
        the path was typed. Raises DataFormatError (and stores nothing) for a missing, empty or
        unreadable file, one without OHLCV columns, or one whose timeframe cannot be inferred;
        DataConflictError (nothing stored) when it would change bars another source stored,
        unless ``replace``.
        """
        instrument = InstrumentId(venue, symbol)
        raw = read_bar_file(path, fmt, symbol=symbol)
        provenance = Provenance.of_file(path)
        return self.ingest_frame(
            raw, instrument=instrument, timeframe=timeframe, source=provenance.source,
            provenance=provenance, replace=replace,
        )  # fmt: skip

    def ingest_frame(
        self,
        frame_or_batch: Any,
        *,
        instrument: InstrumentId,
        timeframe: Timeframe | str | None = None,
        source: str = "frame",
        provenance: Provenance | None = None,
        replace: bool = False,
    ) -> IngestReport:
        """Ingest in-memory data: a BarBatch, a DataFrame, a mapping of columns or RawBars.

        ``timeframe`` None infers it from the median timestamp spacing (logged).
        ``provenance`` (default: ``Provenance(source)``) is recorded with the series; bars
        another source stored are only changed with ``replace`` (see the store's ``write``).
        """
        started = time.perf_counter()
        raw = as_raw_bars(frame_or_batch)
        if len(raw) == 0:
            raise DataFormatError(f"{source} has no rows: nothing to ingest")
        tf = self._timeframe(raw, timeframe, source)
        valid_ts = raw.ts[raw.ts_valid]
        prev_close = self._previous_close(instrument, tf, int(valid_ts.min())) if len(
            valid_ts) else None  # fmt: skip
        report = DataValidator(tf, self.validator_config).validate(raw, prev_close=prev_close)
        batch = report.accepted_batch(instrument)
        written = self.store.write(
            batch, provenance=provenance or Provenance(source), replace=replace
        )
        quarantined = self.store.write_quarantine(
            report.rejected, report.reasons, instrument=instrument, timeframe=tf, source=source
        )
        result = IngestReport(
            instrument=str(instrument),
            timeframe=str(tf),
            source=source,
            rows_read=report.rows_read,
            accepted=report.n_accepted,
            rejected=report.n_rejected,
            merged_duplicates=report.merged_duplicates,
            warnings=len(report.warnings),
            counts_by_rule=dict(report.counts),
            stored=written.changed,
            inserted=written.inserted,
            updated=written.updated,
            unchanged=written.unchanged,
            gaps=len(report.gaps),
            missing_bars=report.missing_bars,
            quarantine_path=None if quarantined.path is None else str(quarantined.path),
            quarantine_added=quarantined.added,
            first_ts=int(batch.ts[0]) if len(batch) else None,
            last_ts=int(batch.ts[-1]) if len(batch) else None,
            seconds=time.perf_counter() - started,
            warning_samples=[
                {"code": w.code, "ts": w.ts, "message": w.message}
                for w in report.warnings[:_WARNING_SAMPLES]
            ],
            timeframe_inferred=timeframe is None,
            replaced=written.replaced,
            other_sources=list(written.other_sources),
        )
        log.info(
            "ingested %s %s from %s: %d accepted, %d rejected, %d merged",
            instrument, tf, source, result.accepted, result.rejected, result.merged_duplicates,
        )  # fmt: skip
        return result

    @staticmethod
    def _timeframe(raw: RawBars, timeframe: Timeframe | str | None, source: str) -> Timeframe:
        if timeframe is not None:
            return Timeframe.parse(timeframe)
        tf = infer_timeframe(raw, source)
        log.info(
            "no timeframe given: inferred %s from the median timestamp spacing of %s "
            "(pass --timeframe to override)", tf, source,
        )  # fmt: skip
        return tf

    def _previous_close(
        self, instrument: InstrumentId, tf: Timeframe, first_ts: int
    ) -> float | None:
        """The stored close just before ``first_ts``, so jumps are judged across batches."""
        try:
            before = self.store.read(
                instrument, tf, first_ts - _PREV_CLOSE_LOOKBACK_BARS * tf.nanos, first_ts
            )
        except DataNotFoundError:
            return None
        return float(before.close[-1]) if len(before) else None

    # -- views the CLI and the REST API share ---------------------------------------------------
    def datasets(self) -> list[DatasetInfo]:
        return self.store.datasets()

    def stats(
        self,
        instrument: InstrumentId,
        timeframe: Timeframe | str,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> dict[str, Any]:
        """Rows, span, gaps and a return/volatility summary of one stored dataset."""
        tf = Timeframe.parse(timeframe)
        return dataset_stats(self.store.read(instrument, tf, start_ns, end_ns))

    def export(
        self,
        instrument: InstrumentId,
        timeframe: Timeframe | str,
        path: Path | str,
        *,
        fmt: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> ExportResult:
        return self.store.export(
            instrument, timeframe, path, fmt=fmt, start_ns=start_ns, end_ns=end_ns
        )

    def quarantined(
        self, instrument: InstrumentId | None = None, timeframe: Timeframe | str | None = None
    ) -> Any:
        tf = None if timeframe is None else Timeframe.parse(timeframe)
        return self.store.read_quarantine(instrument, tf)


def dataset_stats(batch: BarBatch) -> dict[str, Any]:
    """Summary statistics of a batch; volatility is annualised by the bars actually observed
    per year (so daily stock data with weekends is not scaled as if it traded every day)."""
    n = len(batch)
    out: dict[str, Any] = {
        "instrument": str(batch.instrument),
        "timeframe": str(batch.timeframe),
        "rows": n,
        "first_ts": int(batch.ts[0]) if n else None,
        "last_ts": int(batch.ts[-1]) if n else None,
    }
    steps = np.diff(batch.ts) // batch.timeframe.nanos - 1 if n > 1 else np.empty(0, np.int64)
    out["gaps"] = int(np.count_nonzero(steps > 0))
    out["missing_bars"] = int(steps[steps > 0].sum())
    returns = np.diff(np.log(batch.close)) if n > 1 else np.empty(0)
    if len(returns) == 0:
        out["returns"] = None
        return out
    years = (batch.ts[-1] - batch.ts[0]) / (365.25 * 86_400e9)
    per_year = len(returns) / years if years > 0 else batch.timeframe.periods_per_year
    std = float(returns.std(ddof=1)) if len(returns) > 1 else 0.0
    out["returns"] = {
        "total": float(batch.close[-1] / batch.close[0] - 1.0),
        "mean_log": float(returns.mean()),
        "std_log": std,
        "min_log": float(returns.min()),
        "max_log": float(returns.max()),
        "annualised_volatility": std * math.sqrt(per_year),
        "bars_per_year": float(per_year),
    }
    out["mean_volume"] = float(np.mean(batch.volume))
    return out


def get_data_ingestion_api(settings: NeoSettings | None = None) -> DataIngestionAPI:
    """The configured ingestion service (store under ``settings.data_dir / "store"``)."""
    if settings is None:
        from neo.settings import load_settings

        settings = load_settings()
    return DataIngestionAPI(HistoricalDataStore.from_settings(settings), settings.data.validation)
