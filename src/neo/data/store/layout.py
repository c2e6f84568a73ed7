"""Where datasets live on disk: ``<root>/<venue>/<symbol>/<timeframe>/``.

Venue and symbol are percent-encoded (``BTC/USDT`` → ``BTC%2FUSDT``) so any ccxt symbol is one
safe directory name and decodes back exactly. A name that would still be an empty or dot-only
path segment (``.``, ``..``: the parent directory, outside the store) or longer than a file
system allows is refused with a ConfigError before any path is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe

MAX_SEGMENT = 200
"""Longest encoded venue or symbol (file systems allow 255 bytes per path segment)."""


def encode(name: str) -> str:
    return quote(name, safe="-_.")


def checked_segment(kind: str, name: str) -> str:
    """``name`` encoded as one directory name; ConfigError for a name that cannot be one."""
    segment = encode(name)
    if not segment.strip("."):
        raise ConfigError(
            f"invalid {kind} {name!r}: a name made only of dots (or empty) would be a path "
            f"outside the store; use letters or digits, e.g. 'binance' or 'BTC/USDT'"
        )
    if len(segment) > MAX_SEGMENT:
        raise ConfigError(
            f"invalid {kind}: a name of {len(name)} characters is too long for the store "
            f"(at most {MAX_SEGMENT} once encoded); use a shorter {kind}"
        )
    return segment


def dataset_dir(root: Path, instrument: InstrumentId, timeframe: Timeframe) -> Path:
    venue = checked_segment("venue", instrument.venue)
    return root / venue / checked_segment("symbol", instrument.symbol) / str(timeframe)


def iter_dataset_dirs(root: Path) -> Iterator[tuple[InstrumentId, Timeframe, Path]]:
    """Every ``(instrument, timeframe, directory)`` under ``root``, sorted; junk is skipped."""
    if not root.is_dir():
        return
    for venue_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for symbol_dir in sorted(p for p in venue_dir.iterdir() if p.is_dir()):
            for tf_dir in sorted(p for p in symbol_dir.iterdir() if p.is_dir()):
                if tf_dir.name.startswith("."):
                    continue
                try:
                    iid = InstrumentId(unquote(venue_dir.name), unquote(symbol_dir.name))
                    tf = Timeframe.parse(tf_dir.name)
                except ConfigError:
                    continue
                yield iid, tf, tf_dir
