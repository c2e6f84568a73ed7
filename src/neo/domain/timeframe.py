"""Bar timeframes, parsed from the text users and ccxt write (``1m``, ``4h``, ``1d``, ``1w``)."""

from __future__ import annotations

import re
from typing import ClassVar

import msgspec

from neo.domain.errors import ConfigError

_NS_PER_UNIT = {
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3_600 * 1_000_000_000,
    "d": 86_400 * 1_000_000_000,
    "w": 7 * 86_400 * 1_000_000_000,
}
_PANDAS_UNIT = {"s": "s", "m": "min", "h": "h", "d": "D", "w": "W-MON"}
_PATTERN = re.compile(r"^\s*(\d+)\s*([smhdwSHDW])\s*$")
_MONTHS = re.compile(r"^\s*\d+\s*(M|mo|mon|month|months)\s*$", re.IGNORECASE)


class Timeframe(msgspec.Struct, frozen=True):
    """A bar length: ``amount`` units of ``unit`` (s, m, h, d, w).

    Weekly bars open on Monday 00:00 UTC, as on the exchanges ccxt speaks to, so
    ``nanos`` alignment is checked against the Unix epoch shifted to a Monday.
    """

    amount: int
    unit: str

    SUPPORTED: ClassVar[tuple[str, ...]] = (
        "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.unit not in _NS_PER_UNIT or self.amount <= 0:
            raise ConfigError(
                f"invalid timeframe {self.amount}{self.unit!s}: use one of "
                f"{', '.join(self.SUPPORTED)}"
            )

    @classmethod
    def parse(cls, text: str | Timeframe) -> Timeframe:
        """Parse ``"15m"``-style text; raises ConfigError listing the valid forms.

        Units are case-insensitive except ``M``: in ccxt ``1M`` is one *month*, which has no
        fixed length and is not supported, so it is refused rather than read as one minute.
        """
        if isinstance(text, Timeframe):
            return text
        value = str(text)
        match = _PATTERN.match(value)
        if match is None and _MONTHS.match(value):
            raise ConfigError(
                f"invalid timeframe {text!r}: monthly bars are not supported (in ccxt "
                f"'1M' means one month; one minute is lowercase '1m'); use one of "
                f"{', '.join(cls.SUPPORTED)}"
            )
        if match is None:
            raise ConfigError(
                f"invalid timeframe {text!r}: use a number and a unit such as "
                f"{', '.join(cls.SUPPORTED)}"
            )
        return cls(int(match.group(1)), match.group(2).lower())

    @property
    def nanos(self) -> int:
        return self.amount * _NS_PER_UNIT[self.unit]

    @property
    def seconds(self) -> float:
        return self.nanos / 1e9

    @property
    def origin_ns(self) -> int:
        """Where bar boundaries start: the epoch, or Monday 1970-01-05 for weekly bars."""
        return 4 * 86_400 * 1_000_000_000 if self.unit == "w" else 0

    @property
    def pandas_freq(self) -> str:
        return f"{self.amount}{_PANDAS_UNIT[self.unit]}"

    @property
    def periods_per_year(self) -> float:
        """Bars in a year of continuous trading (crypto); daily equity data uses 252 instead."""
        return 365.0 * 86_400 * 1e9 / self.nanos

    def is_aligned(self, ts_ns: int) -> bool:
        return (ts_ns - self.origin_ns) % self.nanos == 0

    def floor(self, ts_ns: int) -> int:
        return ts_ns - (ts_ns - self.origin_ns) % self.nanos

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"
