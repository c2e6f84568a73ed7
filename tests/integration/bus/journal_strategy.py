"""A strategy for the two-process bus test: it journals every bar it is given, durably, and can
stop dead at a chosen bar so the test kills the process at a known point mid-stream.

Loaded by path (``neo paper --strategy .../journal_strategy.py:Journal``); not a test module.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import ClassVar

from neo.strategies.base import Strategy, param
from neo.strategies.context import StrategyContext

_SEEN = [0]  # bars this process was given, over every instrument's instance


class Journal(Strategy):
    name: ClassVar[str] = "test_bus_journal"

    journal: str = param("journal.txt", help="file that gets one line per bar: instrument ts")
    pause_at: int = param(0, minimum=0, help="block forever on this bar (0: never)")

    def on_bar(self, ctx: StrategyContext) -> None:
        _SEEN[0] += 1
        if _SEEN[0] == self.pause_at:  # before the bar is journaled: it is not processed
            Path(f"{self.journal}.paused").write_text(str(ctx.ts[ctx.i]))
            threading.Event().wait()  # the test SIGKILLs the process here
        with Path(self.journal).open("a", encoding="utf-8") as out:
            out.write(f"{ctx.instrument_id} {ctx.ts[ctx.i]}\n")
            out.flush()
            os.fsync(out.fileno())
