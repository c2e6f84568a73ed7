"""The kill switch of an account: once engaged, new exposure is halted until an explicit reset.

The halt belongs to the **account**, not to a session or a config file: every session trading
the account honours it, whatever flags it was started with. Its state lives inside the data
directory, one file per account (:func:`account_state_path`)::

    <data_dir>/accounts/paper/killswitch.json                   the simulated paper account
    <data_dir>/accounts/exchange/binance/main/killswitch.json   account "exchange:binance:main"

Every change is a read-modify-write under a file lock (``filelock``), written atomically
(temporary file, fsync, rename), so concurrent sessions never lose each other's halt or reset:
a session merges its change into what is on disk instead of writing its own view. Each engage
and reset bumps ``generation`` and is appended to ``history`` (who, when, why); a halt is
cleared only by a reset. A running session calls :meth:`KillSwitch.refresh` once per step: a
``stat`` of the file, and a re-read only when it changed, so a halt set by another process
stops it within one step and a reset is honoured. A state file that cannot be read counts as
engaged: when in doubt, fail closed.

Beside the halt the file keeps what the portfolio limits are measured from, so a restart does
not forget them either (only for an account whose equity outlives a session, ``keep_basis``):

* ``peak_equity``: the highest equity seen (drawdown basis); it only ever rises, until a reset.
* ``day`` and ``day_start_equity``: the UTC day (days since the epoch) and the equity it
  started with (daily-loss basis); a later day replaces them.
* ``actions_done``: whether the breach actions (cancel, flatten or reduce) of the current
  engagement were already carried out, so a restart while engaged does not, for instance,
  reduce a second time.

A reset clears all of it: the next bar starts a new basis from the equity then.
"""

from __future__ import annotations

import getpass
import json
import math
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from neo.domain.errors import ConfigError, RiskError
from neo.logs import get_logger

log = get_logger("risk.killswitch")

STATE_VERSION = 3
STATE_FILE = "killswitch.json"
PAPER_ACCOUNT = "paper"
HISTORY_LIMIT = 500
"""Engagements and resets kept in the state file (oldest dropped first)."""
LOCK_TIMEOUT_S = 10.0
LOCK_POLL_S = 0.002
"""How often a waiting process retries the lock (held for a read, a write and an fsync)."""
RACY_NS = 100_000_000
"""A file changed less than this long ago is re-read even when its stamp (mtime, inode, size)
looks the same: file times are coarse, and two writes in one tick can leave an equal stamp."""
PEAK_SAVE_STEP = 1e-4
"""A higher peak is written to disk once it is this much (relative) above the saved one: the
basis on disk then trails the true peak by at most 0.01 %, and a rising market does not cost a
file write per bar."""

_ACCOUNT = re.compile(r"paper|exchange:[a-z0-9_]+:[A-Za-z0-9_.-]+")
_LEGACY_DIR = "risk"


def account_state_path(data_dir: Path, account: str = PAPER_ACCOUNT) -> Path:
    """The kill-switch state file of ``account`` inside ``data_dir`` (the only place it lives).

    ``account`` is ``paper`` (the simulated account of the data directory) or
    ``exchange:<venue>:<label>`` (an exchange account, e.g. ``exchange:binance:main``).
    """
    if not _ACCOUNT.fullmatch(account) or account.endswith((".", "..")):
        raise ConfigError(
            f"unknown account {account!r}: use 'paper' or 'exchange:<venue>:<label>' "
            "(venue in lower case, label of letters, digits, '.', '_' or '-')"
        )
    return data_dir.joinpath("accounts", *account.split(":"), STATE_FILE)


def whoami() -> str:
    """Who acts, for the history: ``user@host pid N``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - a container without a passwd entry
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _blank() -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "engaged": False,
        "reason": "",
        "engaged_ns": 0,
        "engaged_at": None,
        "engaged_by": "",
        "generation": 0,
        "actions_done": False,
        "peak_equity": None,
        "day": None,
        "day_start_equity": None,
        "history": [],
    }


def read_state(path: Path) -> dict[str, Any]:
    """The state on disk (a blank one when there is no file); a corrupt file raises ValueError
    (or OSError), which callers turn into an engaged switch."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _blank()
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    state = {**_blank(), **data}
    state["engaged"] = _flag(state["engaged"])
    state["actions_done"] = _flag(state["actions_done"])
    state["reason"] = str(state["reason"])
    state["engaged_ns"] = int(state["engaged_ns"])
    state["generation"] = int(state["generation"])
    _number(state["peak_equity"])
    _number(state["day_start_equity"])
    if state["day"] is not None:
        state["day"] = int(state["day"])
    if not isinstance(state["history"], list):
        raise ValueError("history is not a list")
    return state


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


class KillSwitch:
    """Engaged or not, with the reason, time and limit basis; shared through ``state_path``.

    Parameters
    ----------
    state_path
        The account's state file (:func:`account_state_path`); None keeps the switch in memory
        (backtests: one run's halt must not block the next).
    keep_basis
        True for an account whose equity outlives a session (an exchange account): the limit
        basis and whether the breach actions ran are the account's and shared through the
        file. False for paper trading, whose simulated account starts afresh each session:
        the halt is shared, the basis and breach actions are this session's own.
    actor
        Who this instance acts for, recorded in the history (default: user, host and pid).
    """

    def __init__(
        self, state_path: Path | None = None, *, keep_basis: bool = True, actor: str = ""
    ) -> None:
        self.state_path = state_path
        self.keep_basis = keep_basis
        self.actor = actor or whoami()
        self.engaged = False
        self.reason = ""
        self.engaged_ns = 0
        self.engaged_by = ""
        self.generation = 0
        self.actions_done = False
        self.peak_equity = math.nan
        self.day: int | None = None
        self.day_start_equity = math.nan
        self.history: list[dict[str, Any]] = []
        self.restored = False
        """True when this instance found the switch engaged on disk (a restart while halted)."""
        self._saved_peak = math.nan
        self._stamp: tuple[int, int, int] | None = None
        self._change = ""
        self._rebase = False
        self._loaded = False
        self._failed_at: int | None = None
        """The generation at which the file became unreadable: engaged until a later reset."""
        if state_path is not None:
            _remove_stale_temps(state_path.parent)
            self.refresh()
            self._change = ""
            self.restored = self.engaged
        self._loaded = True

    # ------------------------------------------------------------------ reading
    def refresh(self) -> bool:
        """Pick up a change another process made (cheap: one ``stat`` unless the file changed).

        Returns True when the halt changed (engaged or reset elsewhere); :meth:`take_change`
        says which. A vanished file changes nothing: only a reset clears a halt.
        """
        path = self.state_path
        if path is None:
            return False
        try:
            info = path.stat()
        except FileNotFoundError:
            return False
        except OSError as exc:
            self._fail_closed(path, exc)
            return True
        stamp = (info.st_mtime_ns, info.st_ino, info.st_size)
        if stamp == self._stamp and time.time_ns() - info.st_mtime_ns > RACY_NS:
            return False
        before = (self.engaged, self.generation)
        try:
            state = read_state(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._fail_closed(path, exc)
            return True
        self._stamp = stamp
        self._adopt(state)
        return (self.engaged, self.generation) != before

    def take_change(self) -> str:
        """``engaged`` or ``reset`` when another process changed the halt since the last call
        (``""`` otherwise); for the gate's event log."""
        change, self._change = self._change, ""
        return change

    def _fail_closed(self, path: Path, exc: BaseException) -> None:
        self._stamp = None
        if self._failed_at is None:
            self._failed_at = self.generation
        if not self.engaged:
            self._change = "engaged"
            self.actions_done = False
        self.engaged = True
        self.reason = f"unreadable kill-switch state {path}: {exc}"
        log.error("kill switch fails closed", extra={"path": str(path), "error": str(exc)})

    def _adopt(self, state: dict[str, Any], *, mine: bool = False) -> None:
        """Take the halt (and, for a shared account, the basis) from ``state``."""
        failed = self._failed_at
        if (
            failed is not None
            and not mine
            and not state["engaged"]
            and not any(
                entry.get("event") == "reset" and int(entry.get("generation", 0)) > failed
                for entry in state["history"]
            )
        ):
            return  # a file that was unreadable and now says "not engaged": only a reset
        self._failed_at = None
        moved = state["generation"] != self.generation or state["engaged"] != self.engaged
        if moved and not mine:
            self._change = "engaged" if state["engaged"] else "reset"
        if moved and not state["engaged"] and self._loaded:
            self._rebase = True  # a reset: the next bar starts a new basis
            self.peak_equity = self.day_start_equity = math.nan
            self.day = None
            self._saved_peak = math.nan
        self.engaged = state["engaged"]
        self.reason = state["reason"]
        self.engaged_ns = state["engaged_ns"]
        self.engaged_by = str(state.get("engaged_by") or "")
        self.generation = state["generation"]
        self.history = list(state["history"])
        if self.keep_basis:
            self.actions_done = state["actions_done"]
            self.peak_equity = _number(state["peak_equity"])
            self.day = state["day"]
            self.day_start_equity = _number(state["day_start_equity"])
            self._saved_peak = self.peak_equity
        elif moved:
            self.actions_done = False  # this session's own positions still need the actions

    # ------------------------------------------------------------------ changes
    def engage(self, reason: str, ts_ns: int = 0) -> bool:
        """Engage (idempotent); True when this call engaged it (False: it already was, here or
        by another process, whose reason is kept)."""
        if self.engaged:
            return False

        def mutate(state: dict[str, Any]) -> bool:
            if state["engaged"]:
                return False
            state.update(
                engaged=True,
                reason=reason,
                engaged_ns=ts_ns,
                engaged_at=_now(),
                engaged_by=self.actor,
                actions_done=False,
            )
            _record(state, "engaged", reason, self.actor, ts_ns)
            return True

        try:
            changed = self._transact(mutate)
        except RiskError:
            self.engaged, self.reason, self.engaged_ns = True, reason, ts_ns  # fail closed
            self.actions_done = False
            raise
        if changed:
            log.error("kill switch engaged", extra={"reason": reason, "bar_ts": ts_ns})
        return changed

    def mark_actions_done(self) -> None:
        """The engine has been asked to carry out this engagement's breach actions."""
        if self.actions_done:
            return
        self.actions_done = True
        if not self.keep_basis:
            return
        generation = self.generation

        def mutate(state: dict[str, Any]) -> bool:
            if not state["engaged"] or state["generation"] != generation:
                return False  # reset (or re-engaged) meanwhile: not this engagement's
            state["actions_done"] = True
            return True

        self._transact(mutate)

    def reset(self, reason: str = "", *, by: str = "") -> dict[str, Any]:
        """Release the halt and forget the limit basis; the only way back to trading.

        Recorded in the history with who, when and why; returns the state before the reset.
        An unreadable state file is replaced (the reset is the way out of it).
        """
        actor = by or self.actor
        before: dict[str, Any] = {}

        def mutate(state: dict[str, Any]) -> bool:
            before.update(state)
            state.update(
                engaged=False,
                reason="",
                engaged_ns=0,
                engaged_at=None,
                engaged_by="",
                actions_done=False,
                peak_equity=None,
                day=None,
                day_start_equity=None,
            )
            _record(state, "reset", reason, actor, 0, previous=before.get("reason", ""))
            return True

        self._transact(mutate, replace_unreadable=True)
        self.actions_done = self.restored = False
        log.warning("kill switch reset", extra={"by": actor, "reason": reason})
        return before or self.to_dict()

    def update_basis(self, equity: float, peak: float, day: int, day_start: float) -> None:
        """Raise the peak to ``max(peak, equity)``; start a new day's basis on a later day.

        ``peak`` and ``day_start`` are the account's own (a fresh account knows less than the
        file); the stored values win when they are more conservative. Right after a reset the
        basis starts from ``equity`` alone, so the reset is not undone by the old peak.
        """
        if self._rebase:
            self._rebase = False
            peak = day_start = equity
            self.peak_equity = math.nan
            self.day = None
        best = max(peak, equity)
        if not self.peak_equity >= best:  # also when the stored peak is NaN
            self.peak_equity = best
        changed = self.day is None or day > self.day
        if changed:
            self.day, self.day_start_equity = day, day_start
        saved = self._saved_peak
        if changed or math.isnan(saved) or self.peak_equity > saved * (1.0 + PEAK_SAVE_STEP):
            self._saved_peak = self.peak_equity
            if self.keep_basis:
                self._save_basis()

    def _save_basis(self) -> None:
        if self.state_path is None:
            return  # memory only: the fields above are the state
        peak, day, start, generation = (
            self.peak_equity,
            self.day,
            self.day_start_equity,
            self.generation,
        )

        def mutate(state: dict[str, Any]) -> bool:
            if _reset_since(state, generation):
                return False  # reset meanwhile: that basis is stale, the next bar starts anew
            stored = _number(state["peak_equity"])
            if not stored >= peak:
                state["peak_equity"] = peak
            if state["day"] is None or (day is not None and day > state["day"]):
                state["day"], state["day_start_equity"] = day, start
            return True

        self._transact(mutate)

    # ------------------------------------------------------------------ writing
    def _transact(
        self, mutate: Callable[[dict[str, Any]], bool], *, replace_unreadable: bool = False
    ) -> bool:
        """Read the state under the lock, apply ``mutate``, write it back if it changed it and
        adopt the result. True when ``mutate`` changed the state."""
        path = self.state_path
        if path is None:
            state = {**_blank(), **self.to_dict(), "history": list(self.history)}
            changed = mutate(state)
            if changed:
                self._adopt(state, mine=True)
            return changed
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(f"{path}.lock", timeout=LOCK_TIMEOUT_S)
            with lock.acquire(poll_interval=LOCK_POLL_S):
                try:
                    state = read_state(path)
                except (ValueError, KeyError, TypeError, OSError) as exc:
                    if not replace_unreadable:
                        self._fail_closed(path, exc)
                        return False
                    state = _blank()  # what it stood for: a halt (failed closed)
                    state.update(engaged=True, reason=f"unreadable kill-switch state: {exc}")
                self._adopt(state)
                changed = mutate(state)
                if changed:
                    state["version"] = STATE_VERSION
                    _write(path, state)
                    self._adopt(state, mine=True)
                info = path.stat() if path.exists() else None
                self._stamp = (
                    None if info is None else (info.st_mtime_ns, info.st_ino, info.st_size)
                )
                return changed
        except Timeout as exc:
            raise RiskError(
                f"cannot lock the kill-switch state {path} within {LOCK_TIMEOUT_S:g} s: {exc}; "
                "another process holds it (remove a stale .lock only if none runs)"
            ) from exc
        except OSError as exc:
            raise RiskError(
                f"cannot persist the kill-switch state to {path}: {exc}; "
                "make the directory writable"
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        """The state as this instance knows it (what ``neo risk status`` shows)."""
        return {
            "version": STATE_VERSION,
            "engaged": self.engaged,
            "reason": self.reason,
            "engaged_ns": self.engaged_ns,
            "engaged_by": self.engaged_by,
            "generation": self.generation,
            "actions_done": self.actions_done,
            "peak_equity": None if math.isnan(self.peak_equity) else self.peak_equity,
            "day": self.day,
            "day_start_equity": (
                None if math.isnan(self.day_start_equity) else self.day_start_equity
            ),
        }


def _record(
    state: dict[str, Any], event: str, reason: str, by: str, ts_ns: int, previous: str = ""
) -> None:
    """Start a new generation (an engage or a reset) and append it to the history, keeping the
    last HISTORY_LIMIT entries."""
    state["generation"] = int(state["generation"]) + 1
    entry: dict[str, Any] = {
        "event": event,
        "generation": state["generation"],
        "at": _now(),
        "by": by,
        "reason": reason,
    }
    if ts_ns:
        entry["ts_ns"] = ts_ns
    if previous:
        entry["previous_reason"] = previous
    history = [*state["history"], entry]
    state["history"] = history[-HISTORY_LIMIT:]


def _reset_since(state: dict[str, Any], generation: int) -> bool:
    """A reset happened after ``generation`` (an engagement alone keeps the basis)."""
    if state["generation"] == generation:
        return False
    return (
        any(
            entry.get("event") == "reset" and int(entry.get("generation", 0)) > generation
            for entry in state["history"]
        )
        or not state["engaged"]
    )


def _write(path: Path, state: dict[str, Any]) -> None:
    payload = json.dumps(state)
    fd, tmp = tempfile.mkstemp(prefix=".killswitch-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def import_legacy_halt(data_dir: Path, switch: KillSwitch) -> None:
    """Carry an engaged halt from the old per-config-file state (``<data_dir>/risk/*.json``)
    over to the account, so upgrading never releases a halt silently."""
    legacy = data_dir / _LEGACY_DIR
    if switch.state_path is None or switch.state_path.exists() or not legacy.is_dir():
        return
    for old in sorted(legacy.glob("*.json")):
        try:
            data = json.loads(old.read_text(encoding="utf-8"))
            engaged = not isinstance(data, dict) or data.get("engaged") is not False
            reason = str(data.get("reason", "")) if isinstance(data, dict) else ""
        except (OSError, ValueError) as exc:
            engaged, reason = True, f"unreadable: {exc}"
        if engaged:
            switch.engage(f"halt carried over from {old}: {reason or 'engaged'}")
            return


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
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"non-finite basis {value!r}")
    return number
