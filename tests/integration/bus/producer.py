"""A producer for the two-process bus test: publishes a CSV's bars one at a time in time order
(``publish_candles``), and stops dead after ``pause_after`` of them so the test can kill it
mid-stream. Usage: python producer.py URL CSV VENUE PAUSE_AFTER MARKER
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pandas as pd

from neo.domain.bar import Bar
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.service.redis_bus import connect, publish_candles


def main(url: str, csv: str, venue: str, pause_after: int, marker: str) -> None:
    frame = pd.read_csv(csv)
    frame["ts"] = frame["timestamp"].astype("int64") * 1_000_000  # ms, as `neo simulate` writes
    frame = frame.sort_values(["ts", "symbol"], kind="stable")
    client = connect(url)
    tf = Timeframe.parse("1m")
    for n, row in enumerate(frame.itertuples(index=False), start=1):
        bar = Bar(instrument=InstrumentId(venue, str(row.symbol)), timeframe=tf, ts=int(row.ts),
                  open=float(row.open), high=float(row.high), low=float(row.low),
                  close=float(row.close), volume=float(row.volume))  # fmt: skip
        publish_candles([bar], client=client)
        if n == pause_after:
            Path(marker).write_text(str(n))
            threading.Event().wait()  # the test SIGKILLs the process here


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
