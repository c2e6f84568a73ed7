"""The kill switch: once engaged, new exposure is halted until someone resets it explicitly.

Its state lives in a small JSON file written atomically (temporary file, fsync, rename), so a
crash or restart never forgets an engaged switch. A state file that cannot be read counts as
engaged: when in doubt, fail closed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from neo.domain.errors import RiskError
from neo.logs import get_logger

log = get_logger("risk.killswitch")


class KillSwitch:
    """Engaged or not, with the reason and time; persisted to ``state_path`` when given."""

    def __init__(self, state_path: Path | None = None) -> None:
        self.state_path = state_path
        self.engaged = False
        self.reason = ""
        self.engaged_ns = 0
        if state_path is not None and state_path.exists():
            self._load(state_path)

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self.engaged = bool(data["engaged"])
            self.reason = str(data.get("reason", ""))
            self.engaged_ns = int(data.get("engaged_ns", 0))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.engaged = True
            self.reason = f"unreadable kill-switch state {path}: {exc}"
            log.error("kill switch fails closed", extra={"path": str(path), "error": str(exc)})

    def engage(self, reason: str, ts_ns: int = 0) -> bool:
        """Engage (idempotent); True when this call changed the state."""
        if self.engaged:
            return False
        self.engaged, self.reason, self.engaged_ns = True, reason, ts_ns
        self._save()
        log.error("kill switch engaged", extra={"reason": reason, "ts": ts_ns})
        return True

    def reset(self, by: str = "") -> None:
        """Release the halt; the only way back to trading after a breach."""
        self.engaged, self.reason, self.engaged_ns = False, "", 0
        self._save()
        log.warning("kill switch reset", extra={"by": by})

    def _save(self) -> None:
        if self.state_path is None:
            return
        payload = json.dumps(
            {"engaged": self.engaged, "reason": self.reason, "engaged_ns": self.engaged_ns}
        )
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
