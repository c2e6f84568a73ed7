"""The ingestion service: read → validate → store → quarantine → statistics, in one place.

The CLI uses it now and the REST API will later, so both report the same numbers. For every
ingestion ``accepted + rejected + merged_duplicates == rows_read``: rejected rows go to the
quarantine with their reasons and source, identical duplicates are merged, nothing is dropped.
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neo.data.calendars import AlwaysOpen, TradingCalendar, calendar_of
from neo.data.chunked import (
    SeriesScan,
    check_timeframe,
    rescan_unsorted,
    scan,
    validate_by_year,
    validate_in_order,
)
from neo.data.config import ValidationConfig, VenueConfig, default_venues
from neo.data.feeds.files import CHUNK_ROWS, BarFile
from neo.data.store.historical import (
    ConflictTally,
    DatasetInfo,
    ExportResult,
    HistoricalDataStore,
)
from neo.data.store.provenance import Provenance
from neo.data.validate import (
    RULES,
    DataValidator,
    RawBars,
    ValidationReport,
    ValidationStream,
    as_raw_bars,
)
from neo.domain.bar import BarBatch, IntArray
from neo.domain.errors import DataFormatError
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
        """The fields as plain values (what ``asdict`` gives, without its deep copy: the
        nested values are flat dicts and lists of plain values, copied one level)."""
        out = {name: getattr(self, name) for name in _REPORT_FIELDS}
        out["counts_by_rule"] = dict(self.counts_by_rule)
        out["warning_samples"] = [dict(sample) for sample in self.warning_samples]
        out["other_sources"] = list(self.other_sources)
        return out


_REPORT_FIELDS = tuple(f.name for f in dataclasses.fields(IngestReport))


@dataclass(slots=True)
class _Series:
    """What the ingestion of one instrument of a file has done so far, chunk by chunk."""

    instrument: InstrumentId
    tf: Timeframe
    inferred: bool
    unsorted: int
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    merged: int = 0
    warnings: int = 0
    gaps: int = 0
    missing: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    counts: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)
    pending: list[tuple[RawBars, tuple[str, ...]]] = field(default_factory=list)
    pending_rows: int = 0
    quarantine_added: int = 0
    quarantine_path: str | None = None
    replaced: int = 0
    other_sources: dict[str, None] = field(default_factory=dict)
    """Sources whose series this ingestion added bars to (ordered, without repeats)."""

    def add(self, report: ValidationReport) -> None:
        self.rows_read += report.rows_read
        self.accepted += report.n_accepted
        self.rejected += report.n_rejected
        self.merged += report.merged_duplicates
        self.warnings += len(report.warnings)
        self.gaps += len(report.gaps)
        self.missing += report.missing_bars
        self.counts.update(report.counts)
        room = _WARNING_SAMPLES - len(self.samples)
        self.samples += [
            {"code": w.code, "ts": w.ts, "message": w.message} for w in report.warnings[:room]
        ]
        if report.n_accepted:
            ts = report.accepted.ts
            self.first_ts = int(ts[0]) if self.first_ts is None else self.first_ts
            self.last_ts = int(ts[-1])

    def add_write(self, written: Any) -> None:
        self.inserted += written.inserted
        self.updated += written.updated
        self.unchanged += written.unchanged
        self.replaced += written.replaced
        self.other_sources.update(dict.fromkeys(written.other_sources))

    def report(self, source: str, seconds: float) -> IngestReport:
        counts = {code: int(self.counts.get(code, 0)) for code in RULES}
        counts["unsorted"] = self.unsorted
        return IngestReport(
            instrument=str(self.instrument), timeframe=str(self.tf), source=source,
            rows_read=self.rows_read, accepted=self.accepted, rejected=self.rejected,
            merged_duplicates=self.merged, warnings=self.warnings, counts_by_rule=counts,
            stored=self.inserted + self.updated, inserted=self.inserted, updated=self.updated,
            unchanged=self.unchanged, gaps=self.gaps, missing_bars=self.missing,
            quarantine_path=self.quarantine_path, quarantine_added=self.quarantine_added,
            first_ts=self.first_ts, last_ts=self.last_ts, seconds=seconds,
            warning_samples=list(self.samples), timeframe_inferred=self.inferred,
            replaced=self.replaced, other_sources=list(self.other_sources),
        )  # fmt: skip


class DataIngestionAPI:
    """Validate and store market data; report what happened to every row.

    Parameters
    ----------
    store:
        Where accepted bars and quarantined rows go.
    validator_config:
        Validation limits (default :class:`ValidationConfig`).
    on_report:
        Called with every :class:`IngestReport` once its rows are stored (the service counts
        accepted and rejected candles in Prometheus with it; the data layer knows no metrics).
    """

    def __init__(
        self,
        store: HistoricalDataStore,
        validator_config: ValidationConfig | None = None,
        venues: dict[str, VenueConfig] | None = None,
        *,
        on_report: Callable[[IngestReport], None] | None = None,
    ) -> None:
        self.store = store
        self.on_report = on_report
        self.validator_config = validator_config or ValidationConfig()
        self.venues = default_venues() if venues is None else venues

    def calendar(self, venue: str) -> TradingCalendar:
        """The trading calendar of ``venue`` (``[venues.<name>]``; unlisted venues: 24/7)."""
        return calendar_of(venue, self.venues)

    def validator(self, instrument: InstrumentId, tf: Timeframe) -> DataValidator:
        return DataValidator(tf, self.validator_config, self.calendar(instrument.venue))

    def ingest_file(
        self,
        path: Path | str,
        *,
        venue: str,
        symbol: str,
        timeframe: Timeframe | str | None = None,
        fmt: str | None = None,
        date_format: str | None = None,
        chunk_rows: int = CHUNK_ROWS,
        replace: bool = False,
    ) -> IngestReport:
        """Ingest one file (CSV, Parquet, feather, ccxt/freqtrade JSON) of one instrument.

        ``timeframe`` None infers it from the file (median spacing); a given one that
        contradicts the file's spacing is an error. The file is read in chunks of
        ``chunk_rows`` rows (bounded memory, same results as one pass; see
        :mod:`neo.data.chunked`). The source is recorded as the absolute path, so quarantined
        rows can be traced however the path was typed. Raises DataFormatError (and stores
        nothing) for a missing, empty or unreadable file, one without OHLCV columns, or one
        whose timeframe cannot be inferred or contradicts ``timeframe``; DataConflictError
        (nothing stored) when it would change bars another source stored, unless ``replace``.
        """
        reports = self._ingest_chunked(
            path, venue, symbol, timeframe, fmt, date_format, chunk_rows, replace
        )
        return reports[0]

    def ingest_file_symbols(
        self,
        path: Path | str,
        *,
        venue: str,
        timeframe: Timeframe | str | None = None,
        fmt: str | None = None,
        date_format: str | None = None,
        chunk_rows: int = CHUNK_ROWS,
        replace: bool = False,
    ) -> list[IngestReport]:
        """Ingest every symbol of a file with a ``symbol`` column (what ``neo simulate
        --symbols A,B`` writes), one report per symbol in order of appearance."""
        return self._ingest_chunked(
            path, venue, None, timeframe, fmt, date_format, chunk_rows, replace
        )

    def _ingest_chunked(
        self,
        path: Path | str,
        venue: str,
        symbol: str | None,
        timeframe: Timeframe | str | None,
        fmt: str | None,
        date_format: str | None,
        chunk_rows: int,
        replace: bool = False,
    ) -> list[IngestReport]:
        started = time.perf_counter()
        file = BarFile(path, fmt, date_format=date_format)
        provenance = dataclasses.replace(Provenance.of_file(path), run=uuid.uuid4().hex[:16])
        source = provenance.source
        only = symbol if file.symbol_column else None
        scans = self._scan(file, symbol, chunk_rows, only)
        given = None if timeframe is None else Timeframe.parse(timeframe)
        plans: dict[str | None, _Series] = {}
        for key, found in scans.items():
            unsorted = 0 if found.in_order else rescan_unsorted(file, chunk_rows, key, only, found)
            tf, inferred = check_timeframe(given, found, Path(path).name)
            instrument = InstrumentId(venue, key if key is not None else str(symbol))
            if inferred:
                log.info(
                    "no timeframe given: inferred %s for %s from the median timestamp spacing "
                    "of %s (pass --timeframe to override)", tf, instrument, source,
                )  # fmt: skip
            plans[key] = _Series(instrument, tf, inferred, unsorted)
        ordered = all(found.in_order for found in scans.values())
        run = validate_in_order if ordered else validate_by_year
        if not replace and any(
            self.store.has_other_sources(plan.instrument, plan.tf, source)
            for plan in plans.values()
        ):  # refuse before the first chunk is written, not halfway through the file
            tallies = {key: ConflictTally() for key in plans}
            run(file, self._streams(plans, scans), self._conflict_check(plans, provenance, tallies),
                chunk_rows, only)  # fmt: skip
            for key, tally in tallies.items():
                if tally.owners:
                    raise tally.error(plans[key].instrument, plans[key].tf, source)
        sink = self._sink(plans, provenance, replace)
        run(file, self._streams(plans, scans), sink, chunk_rows, only)
        reports = []
        for plan in plans.values():
            self._flush_quarantine(plan, source)
            reports.append(plan.report(source, time.perf_counter() - started))
            self._reported(reports[-1])
            log.info(
                "ingested %s %s from %s: %d accepted, %d rejected, %d merged", plan.instrument,
                plan.tf, source, plan.accepted, plan.rejected, plan.merged,
            )  # fmt: skip
        return reports

    @staticmethod
    def _scan(
        file: BarFile, symbol: str | None, chunk_rows: int, only: str | None
    ) -> dict[str | None, SeriesScan]:
        name = file.path.name
        if symbol is None and file.symbol_column is None:
            raise DataFormatError(
                f"{name} has no symbol column: pass --symbol to name its instrument"
            )
        scans = scan(file, chunk_rows, only)
        if not scans or all(found.rows == 0 for found in scans.values()):
            hint = f" for symbol {symbol}" if only else ""
            raise DataFormatError(f"{name} has no rows{hint}: nothing to ingest")
        return scans

    def _streams(
        self, plans: dict[str | None, _Series], scans: dict[str | None, SeriesScan]
    ) -> dict[str | None, ValidationStream]:
        return {
            key: self.validator(plan.instrument, plan.tf).stream(
                prev_close=self._first_previous_close(plan, scans[key])
            )
            for key, plan in plans.items()
        }

    def _conflict_check(
        self,
        plans: dict[str | None, _Series],
        provenance: Provenance,
        tallies: dict[str | None, ConflictTally],
    ) -> Callable[[str | None, ValidationReport], None]:
        """A sink that writes nothing: it counts, per series, the bars the accepted rows would
        change that another source stored."""

        def check(key: str | None, report: ValidationReport) -> None:
            batch = report.accepted_batch(plans[key].instrument)
            if len(batch):
                self.store.count_conflicts(batch, provenance, tallies[key])

        return check

    def _first_previous_close(self, plan: _Series, found: SeriesScan) -> float | None:
        if found.first_ts is None:
            return None
        return self._previous_close(plan.instrument, plan.tf, found.first_ts)

    def _sink(
        self, plans: dict[str | None, _Series], provenance: Provenance, replace: bool
    ) -> Callable[[str | None, ValidationReport], None]:
        source = provenance.source

        def take(key: str | None, report: ValidationReport) -> None:
            plan = plans[key]
            plan.add(report)
            batch = report.accepted_batch(plan.instrument)
            if len(batch):
                plan.add_write(self.store.write(batch, provenance=provenance, replace=replace))
            if report.n_rejected:
                plan.pending.append((report.rejected, report.reasons))
                plan.pending_rows += report.n_rejected
                if plan.pending_rows >= CHUNK_ROWS:
                    self._flush_quarantine(plan, source)

        return take

    def _flush_quarantine(self, plan: _Series, source: str) -> None:
        """Quarantine the rejected rows gathered so far in one write (identical rejected
        rows are told apart by occurrence within a write, as in one pass)."""
        if not plan.pending:
            return
        rows = RawBars.concat([rows for rows, _ in plan.pending])
        reasons = [reason for _, why in plan.pending for reason in why]
        plan.pending, plan.pending_rows = [], 0
        written = self.store.write_quarantine(
            rows, reasons, instrument=plan.instrument, timeframe=plan.tf, source=source
        )
        plan.quarantine_added += written.added
        if written.path is not None:
            plan.quarantine_path = str(written.path)

    def ingest_frame(
        self,
        frame_or_batch: Any,
        *,
        instrument: InstrumentId,
        timeframe: Timeframe | str | None = None,
        source: str = "frame",
        provenance: Provenance | None = None,
        replace: bool = False,
        rejections: list[dict[str, Any]] | None = None,
    ) -> IngestReport:
        """Ingest in-memory data: a BarBatch, a DataFrame, a mapping of columns or RawBars.

        ``timeframe`` None infers it from the median timestamp spacing (logged).
        ``provenance`` (default: ``Provenance(source)``) is recorded with the series; bars
        another source stored are only changed with ``replace`` (see the store's ``write``).
        ``rejections``, when given, receives one ``{"row", "ts", "reasons"}`` per rejected row
        (its position in the input and the rule codes it broke), for a caller that answers
        row by row (the REST API).
        """
        started = time.perf_counter()
        raw = as_raw_bars(frame_or_batch)
        if len(raw) == 0:
            raise DataFormatError(f"{source} has no rows: nothing to ingest")
        tf = self._timeframe(raw, timeframe, source)
        valid_ts = raw.ts[raw.ts_valid]
        prev_close = self._previous_close(instrument, tf, int(valid_ts.min())) if len(
            valid_ts) else None  # fmt: skip
        report = self.validator(instrument, tf).validate(raw, prev_close=prev_close)
        if rejections is not None:
            rejections.extend(rejected_rows(report))
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
        self._reported(result)
        return result

    def _reported(self, report: IngestReport) -> None:
        if self.on_report is not None:
            self.on_report(report)

    @staticmethod
    def _timeframe(raw: RawBars, timeframe: Timeframe | str | None, source: str) -> Timeframe:
        """The given timeframe, checked against the median spacing of the distinct readable
        timestamps (an explicit one that contradicts it is an error), or the one inferred from
        that spacing."""
        found = SeriesScan()
        step = median_spacing(raw.ts if raw.ts_valid.all() else raw.ts[raw.ts_valid])
        if step is not None:
            found.steps[step] = 1  # the scan's lower median is this step
        given = None if timeframe is None else Timeframe.parse(timeframe)
        tf, inferred = check_timeframe(given, found, source)
        if not inferred:
            return tf
        log.info(
            "no timeframe given: inferred %s from the median timestamp spacing of %s "
            "(pass --timeframe to override)", tf, source,
        )  # fmt: skip
        return tf

    def _previous_close(
        self, instrument: InstrumentId, tf: Timeframe, first_ts: int
    ) -> float | None:
        """The stored close just before ``first_ts``, so jumps are judged across batches."""
        return self.store.close_before(
            instrument, tf, first_ts, _PREV_CLOSE_LOOKBACK_BARS * tf.nanos
        )

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
        batch = self.store.read(instrument, tf, start_ns, end_ns)
        return dataset_stats(batch, self.calendar(instrument.venue))

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


def median_spacing(ts: IntArray) -> int | None:
    """The lower median of the spacings between the distinct values of ``ts`` (None with
    fewer than two): what :meth:`SeriesScan.median_step` gives for them, in O(n) when ``ts``
    is already strictly increasing (a batch sent in order), with a sort only otherwise."""
    steps = np.diff(ts)
    if len(steps) and not bool((steps > 0).all()):
        steps = np.diff(np.unique(ts))
    if len(steps) == 0:
        return None
    middle = (len(steps) - 1) // 2
    return int(np.partition(steps, middle)[middle])


def rejected_rows(report: ValidationReport) -> list[dict[str, Any]]:
    """Each rejected row of a validation: input position, timestamp (None if unreadable), rules."""
    bad = report.rejected
    return [
        {
            "row": int(bad.source_row[i]),
            "ts": int(bad.ts[i]) if bool(bad.ts_valid[i]) else None,
            "reasons": report.reasons[i].split(","),
        }
        for i in range(len(bad))
    ]


def dataset_stats(batch: BarBatch, calendar: TradingCalendar | None = None) -> dict[str, Any]:
    """Summary statistics of a batch; volatility is annualised by the bars actually observed
    per year (so daily stock data with weekends is not scaled as if it traded every day).
    Gaps are judged against ``calendar`` (default 24/7): only sessions the venue held and
    the data lacks count as missing bars."""
    n = len(batch)
    out: dict[str, Any] = {
        "instrument": str(batch.instrument),
        "timeframe": str(batch.timeframe),
        "rows": n,
        "first_ts": int(batch.ts[0]) if n else None,
        "last_ts": int(batch.ts[-1]) if n else None,
    }
    steps = (calendar or AlwaysOpen()).missing_between(batch.ts, batch.timeframe)
    out["calendar"] = (calendar or AlwaysOpen()).name
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


def get_data_ingestion_api(
    settings: NeoSettings | None = None,
    *,
    on_report: Callable[[IngestReport], None] | None = None,
) -> DataIngestionAPI:
    """The configured ingestion service (store under ``settings.data_dir / "store"``);
    ``on_report`` sees every report (see :class:`DataIngestionAPI`)."""
    if settings is None:
        from neo.settings import load_settings

        settings = load_settings()
    return DataIngestionAPI(
        HistoricalDataStore.from_settings(settings),
        settings.data.validation,
        settings.venues,
        on_report=on_report,
    )
