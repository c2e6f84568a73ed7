"""The kill switch: once engaged, new exposure is halted until someone resets it explicitly.

Its state lives in a small JSON file written atomically (temporary file, fsync, rename), so a
crash or restart never forgets an engaged switch. A state file that cannot be read counts as
engaged: when in doubt, fail closed.

Beside the halt the file keeps what the portfolio limits are measured from, so a restart does
not forget them either:

* ``peak_equity``: the highest equity seen (drawdown basis); it only ever rises, until a reset.
* ``day`` and ``day_start_equity``: the UTC day (days since the epoch) and the equity it
  started with (daily-loss basis); a later day replaces them.
* ``actions_done``: whether the breach actions (cancel, flatten or reduce) of the current
  engagement were already carried out, so a restart while engaged does not, for instance,
  reduce a second time.

A reset clears all of it: the next bar starts a new basis from the equity then.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from neo.domain.errors import RiskError
from neo.logs import get_logger

log = get_logger("risk.killswitch")

STATE_VERSION = 2
PEAK_SAVE_STEP = 1e-4
"""A higher peak is written to disk once it is this much (relative) above the saved one: the
basis on disk then trails the true peak by at most 0.01 %, and a rising market does not cost a
file write per bar."""


class KillSwitch:
    """Engaged or not, with the reason, time and limit basis; persisted to ``state_path``."""

    def __init__(self, state_path: Path | None = None, *, keep_basis: bool = True) -> None:
        """``keep_basis=False`` restores only the halt, not the peak and day-start equity: for
        an account that starts afresh each session (paper trading's simulated account), whose
        drawdown must not be measured from another account's peak."""
        self.state_path = state_path
        self.keep_basis = keep_basis
        self.engaged = False
        self.reason = ""
        self.engaged_ns = 0
        self.actions_done = False
        self.peak_equity = math.nan
        self.day: int | None = None
        self.day_start_equity = math.nan
        self.restored = False
        """True when this instance found the switch engaged on disk (a restart while halted)."""
        self._saved_peak = math.nan
        if state_path is not None:
            _remove_stale_temps(state_path.parent)
        if state_path is not None and state_path.exists():
            self._load(state_path)

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self.engaged = bool(data["engaged"])
            self.reason = str(data.get("reason", ""))
            self.engaged_ns = int(data.get("engaged_ns", 0))
            self.actions_done = bool(data.get("actions_done", False))
            if self.keep_basis:
                self.peak_equity = _number(data.get("peak_equity"))
                day = data.get("day")
                self.day = None if day is None else int(day)
                self.day_start_equity = _number(data.get("day_start_equity"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            self.engaged = True
            self.reason = f"unreadable kill-switch state {path}: {exc}"
            log.error("kill switch fails closed", extra={"path": str(path), "error": str(exc)})
        self._saved_peak = self.peak_equity
        self.restored = self.engaged

    def engage(self, reason: str, ts_ns: int = 0) -> bool:
        """Engage (idempotent); True when this call changed the state."""
        if self.engaged:
            return False
        self.engaged, self.reason, self.engaged_ns = True, reason, ts_ns
        self.actions_done = False
        self._save()
        log.error("kill switch engaged", extra={"reason": reason, "ts": ts_ns})
        return True

    def mark_actions_done(self) -> None:
        """The engine has been asked to carry out this engagement's breach actions."""
        if not self.actions_done:
            self.actions_done = True
            self._save()

    def reset(self, by: str = "") -> None:
        """Release the halt and forget the limit basis; the only way back to trading."""
        self.engaged, self.reason, self.engaged_ns = False, "", 0
        self.actions_done = self.restored = False
        self.peak_equity = self.day_start_equity = math.nan
        self.day = None
        self._save()
        log.warning("kill switch reset", extra={"by": by})

    def update_basis(self, equity: float, peak: float, day: int, day_start: float) -> None:
        """Raise the peak to ``max(peak, equity)``; start a new day's basis on a later day.

        ``peak`` and ``day_start`` are the account's own (a fresh account knows less than the
        file); the stored values win when they are more conservative.
        """
        best = max(peak, equity)
        if not self.peak_equity >= best:  # also when the stored peak is NaN
            self.peak_equity = best
        changed = self.day is None or day > self.day
        if changed:
            self.day, self.day_start_equity = day, day_start
        saved = self._saved_peak
        if changed or math.isnan(saved) or self.peak_equity > saved * (1.0 + PEAK_SAVE_STEP):
            self._save()

    def to_dict(self) -> dict[str, Any]:
        """The persisted state (what ``neo risk status`` shows)."""
        return {
            "version": STATE_VERSION,
            "engaged": self.engaged,
            "reason": self.reason,
            "engaged_ns": self.engaged_ns,
            "actions_done": self.actions_done,
            "peak_equity": None if math.isnan(self.peak_equity) else self.peak_equity,
            "day": self.day,
            "day_start_equity": (
                None if math.isnan(self.day_start_equity) else self.day_start_equity
            ),
        }

    def _save(self) -> None:
        self._saved_peak = self.peak_equity
        if self.state_path is None:
            return
        payload = json.dumps(self.to_dict())
        directory = self.state_path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".killswitch-", dir=directory)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(self.state_path)
        except OSError as exc:
            raise RiskError(
                f"cannot persist the kill-switch state to {self.state_path}: {exc}; "
                "make the directory writable"
            ) from exc


STALE_TEMP_S = 60.0
"""A ``.killswitch-*`` temporary file this old is a killed writer's leftover (a live one is
renamed over the state file within milliseconds)."""


def _remove_stale_temps(directory: Path) -> None:
    from neo.data.store.atomic import remove_stale_files

    removed = remove_stale_files(directory, ".killswitch-*", STALE_TEMP_S)
    if removed:
        log.warning("removed %d kill-switch temp files left by a killed writer", removed)


def _number(value: Any) -> float:
    """A stored float, NaN for a missing one; anything else is a corrupt file."""
    if value is None:
        return math.nan
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"non-finite basis {value!r}")
    return number
