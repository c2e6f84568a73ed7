"""Where stored bars came from: every series keeps a log of what wrote or removed its bars.

Each stored bar remembers its source (a ``src`` column in the data file), and each change to a
series appends one event to its manifest's provenance log: the action (``ingest``, ``replace``,
``release``, ``delete``), the source (a file's absolute path, ``sample:<name>``,
``exchange:<id>``), the file's sha256 when there is a file, the time, and the row counts.
Consecutive ingests by one writer (the chunks of one run, or a feed or API client appending
batch after batch) are one event, its counts summed and its span widened, so the log grows
with what changed a series rather than with the number of batches.

A source may update its own bars (a corrected file ingested again from the same path) and may
append bars to a series another source started; it may not *change* bars another source wrote
unless the caller says so (``replace=True``, ``--replace``), which is then logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neo.data.store.manifest import file_sha256

ACTIONS = ("ingest", "replace", "release", "delete")


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who is writing: ``source`` identifies the origin (the conflict check compares it); the
    other fields are recorded for people (file name and digest, sample name, exchange)."""

    source: str
    file: str | None = None
    sha256: str | None = None
    sample: str | None = None
    exchange: str | None = None
    action: str = "ingest"
    ids: tuple[str, ...] = ()
    """Quarantine ids a release stores."""
    run: str | None = None
    """One ingestion that writes in several chunks: its writes are logged as one event."""

    @classmethod
    def of_file(cls, path: Path | str) -> Provenance:
        """A file's provenance: its absolute path as the source, its name and sha256."""
        absolute = Path(path).absolute()
        return cls(str(absolute), file=absolute.name, sha256=file_sha256(absolute))

    @classmethod
    def of_sample(cls, name: str, path: Path) -> Provenance:
        return cls(f"sample:{name}", file=path.name, sha256=file_sha256(path), sample=name)

    def event(self, action: str, **counts: Any) -> dict[str, Any]:
        """One provenance log entry for ``action`` with ``counts`` (rows, inserted, …)."""
        fields = {"file": self.file, "sha256": self.sha256, "sample": self.sample,
                  "exchange": self.exchange}  # fmt: skip
        return {
            "action": action,
            "source": self.source,
            "time": now_iso(),
            **{k: v for k, v in fields.items() if v is not None},
            **({"ids": list(self.ids)} if self.ids else {}),
            **({"run": self.run} if self.run else {}),
            **counts,
        }


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
