"""What every front end selects data with: symbols, timeframe, a time window.

The CLI flags (``--symbols``, ``--timeframe``, ``--start``, ``--end``) and the REST query
parameters of the same names parse through these functions, so both refuse the same input
with the same message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.settings import NeoSettings


def parse_symbols(symbols: str | None, symbol: str | None = None) -> list[str]:
    """Symbols from ``--symbols a,b`` and/or ``--symbol a``, in order, without duplicates."""
    names = [s.strip() for s in (symbols or "").split(",") if s.strip()]
    if symbol:
        names.append(symbol.strip())
    return list(dict.fromkeys(names))


def parse_timeframe(text: str) -> Timeframe:
    return Timeframe.parse(text)


def parse_time(text: str | None) -> int | None:
    """ISO date or date-time (naive means UTC), or integer epoch ms/s, to integer ns UTC."""
    if text is None or text == "":
        return None
    stripped = text.strip()
    if stripped.isdigit():
        value = int(stripped)
        return value * 1_000_000 if value > 10**11 else value * 1_000_000_000
    try:
        moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"invalid time {text!r}: use an ISO date such as 2024-01-31 or 2024-01-31T12:00"
        ) from exc
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def parse_window(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    """``--start`` / ``--end`` as ns, refusing a window that ends before it starts."""
    start_ns, end_ns = parse_time(start), parse_time(end)
    if start_ns is not None and end_ns is not None and start_ns >= end_ns:
        raise ConfigError(
            f"--start {start} is not before --end {end}: the window is empty; swap them or "
            "widen it (--start is inclusive, --end exclusive)"
        )
    return start_ns, end_ns


def resolve_timeframe(
    settings: NeoSettings, given: str | None, instruments: Any, default: str
) -> Timeframe:
    """``--timeframe`` if given; else the one timeframe stored for every selected instrument
    when there is exactly one (so a daily-only store needs no flag); else ``default``."""
    if given:
        return parse_timeframe(given)
    from neo.data.store.layout import iter_dataset_dirs

    wanted = {str(i) for i in instruments}
    bars_root = settings.data_dir / "store" / "bars"  # HistoricalDataStore.from_settings
    stored = {str(t) for i, t, _ in iter_dataset_dirs(bars_root) if str(i) in wanted}
    if len(stored) == 1:
        return parse_timeframe(stored.pop())
    return parse_timeframe(default)


SIMULATED_DEFAULT_SYMBOL = "BTC/USDT"
"""What a paper session on the simulated feed trades when no symbols are given."""


def instruments_of(
    settings: NeoSettings, venue: str | None, symbols: str | None, symbol: str | None
) -> list[InstrumentId]:
    """The instruments ``--symbols``/``--symbol`` select on ``--venue`` (default venue)."""
    names = parse_symbols(symbols, symbol)
    if not names:
        raise ConfigError("select what to trade with --symbols A,B or --symbol A")
    where = venue or settings.data.default_venue
    return [InstrumentId(where, name) for name in names]
