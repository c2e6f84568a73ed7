"""Where datasets live on disk: ``<root>/<venue>/<symbol>/<timeframe>/``.

Venue and symbol are percent-encoded (``BTC/USDT`` → ``BTC%2FUSDT``) so any ccxt symbol is one
safe directory name and decodes back exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe


def encode(name: str) -> str:
    return quote(name, safe="-_.")


def dataset_dir(root: Path, instrument: InstrumentId, timeframe: Timeframe) -> Path:
    return root / encode(instrument.venue) / encode(instrument.symbol) / str(timeframe)


def iter_dataset_dirs(root: Path) -> Iterator[tuple[InstrumentId, Timeframe, Path]]:
    """Every ``(instrument, timeframe, directory)`` under ``root``, sorted; junk is skipped."""
    if not root.is_dir():
        return
    for venue_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for symbol_dir in sorted(p for p in venue_dir.iterdir() if p.is_dir()):
            for tf_dir in sorted(p for p in symbol_dir.iterdir() if p.is_dir()):
                try:
                    iid = InstrumentId(unquote(venue_dir.name), unquote(symbol_dir.name))
                    tf = Timeframe.parse(tf_dir.name)
                except ConfigError:
                    continue
                yield iid, tf, tf_dir
