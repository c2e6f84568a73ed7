"""Releasing reviewed quarantine rows into the store.

A row is rejected by one or more rules; someone who has looked at it (a real crash the jump
rule took for an error, one of two conflicting bars) can release it. It is validated again by
every rule except the ones it failed, stored with its original source (action ``release``,
with its id, in the series' provenance), and removed from the quarantine.

Only judgement rules can be waived: a price jump and a duplicate conflict. A row with a
missing timestamp, NaN, a negative price or volume, broken OHLC order or an off-grid
timestamp is wrong data, not a judgement; it is refused with a message to fix the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neo.data.store.provenance import Provenance
from neo.data.validate import DataValidator, RawBars
from neo.domain.errors import ConfigError, DataNotFoundError, DataValidationError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe

if TYPE_CHECKING:
    from neo.data.config import ValidationConfig
    from neo.data.store.historical import HistoricalDataStore

RELEASABLE = ("price_jump", "duplicate_conflict")


@dataclass(frozen=True, slots=True)
class Released:
    """What one release stored: per series, the ids released."""

    instrument: InstrumentId
    timeframe: Timeframe
    ids: tuple[str, ...]
    stored: int


def _selected(frame: Any, ids: Sequence[str]) -> Any:
    wanted = list(dict.fromkeys(ids))
    unknown = [i for i in wanted if i not in set(frame["id"])]
    if unknown:
        raise DataNotFoundError(
            f"no quarantined row with id {', '.join(unknown)}; list them with "
            "`neo data quarantine --json`"
        )
    return frame[frame["id"].isin(wanted)]


def _check_rules(rows: Any) -> None:
    for row in rows.itertuples():
        failed = [r for r in str(row.reasons).split(",") if r not in RELEASABLE]
        if failed:
            raise DataValidationError(
                f"row {row.id} failed {', '.join(failed)}, which is wrong data rather than a "
                f"judgement; only {' and '.join(RELEASABLE)} rows can be released: fix the "
                "source file and ingest it again"
            )
    same_ts = rows[rows.duplicated(["venue", "symbol", "timeframe", "ts"], keep=False)]
    if len(same_ts):
        raise DataValidationError(
            f"rows {', '.join(same_ts['id'])} share a timestamp: release only one of them"
        )


def release(
    store: HistoricalDataStore, ids: Sequence[str], config: ValidationConfig | None = None
) -> list[Released]:
    """Validate the rows with ``ids`` again (minus the rules they failed), store them and
    remove them from the quarantine. All rows are checked before anything is stored."""
    if not ids:
        raise ConfigError("name the rows to release: neo data release ID [ID …]")
    rows = _selected(store.read_quarantine(), ids)
    _check_rules(rows)
    out = []
    for (venue, symbol, tf_text, source), group in rows.sort_values("ts").groupby(
        ["venue", "symbol", "timeframe", "source"], sort=True
    ):
        instrument, tf = InstrumentId(str(venue), str(symbol)), Timeframe.parse(str(tf_text))
        raw = RawBars.from_arrays(
            *(group[c].to_numpy(np.float64 if c != "ts" else np.int64)
              for c in ("ts", "open", "high", "low", "close", "volume"))
        )  # fmt: skip
        skip = {r for text in group["reasons"] for r in str(text).split(",")}
        report = DataValidator(tf, config).validate(
            raw, prev_close=_previous_close(store, instrument, tf, int(raw.ts[0])), skip=skip
        )
        if report.n_rejected:
            broken = ", ".join(sorted(set(report.reasons)))
            raise DataValidationError(
                f"rows {', '.join(group['id'])} still break {broken} besides the rule "
                "reviewed: fix the source file and ingest it again"
            )
        who = Provenance(str(source), action="release", ids=tuple(group["id"]))
        written = store.write(report.accepted_batch(instrument), provenance=who)
        store.quarantine.remove(instrument, tf, list(group["id"]))
        out.append(Released(instrument, tf, tuple(group["id"]), written.changed))
    return out


def _previous_close(
    store: HistoricalDataStore, instrument: InstrumentId, tf: Timeframe, first_ts: int
) -> float | None:
    try:
        before = store.read(instrument, tf, None, first_ts)
    except DataNotFoundError:
        return None
    return float(before.close[-1]) if len(before) else None
