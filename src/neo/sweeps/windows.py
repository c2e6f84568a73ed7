"""Walk-forward windows: consecutive slices of the bars, each a training part then a test part.

Window ``k`` of ``n`` covers bars ``[k·L, (k+1)·L)`` with ``L = bars // n`` (the last one takes
the remainder); its first ``train_frac`` of bars are in-sample, the rest out-of-sample. One
backtest runs over the whole window, so indicators are warm when the test part starts and the
test part's figures come from bars after the training part only; the training part's figures
never see a test bar (the backtest is causal). Configurations are ranked on the in-sample
parts alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from neo.domain.errors import ConfigError

MIN_SEGMENT_BARS = 2


@dataclass(frozen=True, slots=True)
class Window:
    """Bar indices: ``[start, split)`` in-sample, ``[split, stop)`` out-of-sample."""

    index: int
    start: int
    split: int
    stop: int

    @property
    def bars(self) -> int:
        return self.stop - self.start


def check_windows(windows: int, train_frac: float) -> None:
    if windows < 1:
        raise ConfigError(f"--windows must be >= 1, got {windows}")
    if not 0.0 < train_frac < 1.0:
        raise ConfigError(f"--train-frac must be between 0 and 1 (exclusive), got {train_frac}")


def walk_forward(bars: int, windows: int, train_frac: float) -> list[Window]:
    """The windows over ``bars`` bars; a ConfigError when a part would be too short."""
    check_windows(windows, train_frac)
    length = bars // windows
    out = []
    for k in range(windows):
        start = k * length
        stop = bars if k == windows - 1 else start + length
        split = start + round((stop - start) * train_frac)
        if min(split - start, stop - split) < MIN_SEGMENT_BARS:
            raise ConfigError(
                f"{bars} bars make {windows} windows too short to split (train-frac "
                f"{train_frac}): use fewer --windows or a longer --start/--end range"
            )
        out.append(Window(k, start, split, stop))
    return out
