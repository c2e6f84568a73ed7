"""Convert bokeh-sampledata's daily stock OHLCV into the Parquet samples shipped with NEO.

Run once (``python scripts/make_samples.py``); the outputs under ``src/neo/data/samples/`` are
committed. Prices are split/dividend-adjusted with each day's ``adj_close / close`` factor,
because the raw series carry splits (AAPL 2000 and 2005, …) that look like 50 % crashes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SYMBOLS = ("AAPL", "IBM", "MSFT", "GOOG", "FB")
OUT = Path(__file__).resolve().parents[1] / "src" / "neo" / "data" / "samples"


def convert(ticker: str) -> pa.Table:
    import bokeh_sampledata.stocks as stocks

    raw = getattr(stocks, ticker)
    close = np.asarray(raw["close"], dtype=np.float64)
    factor = np.asarray(raw["adj_close"], dtype=np.float64) / close
    dates = np.asarray(raw["date"], dtype="datetime64[D]").astype("datetime64[ns]")
    order = np.argsort(dates, kind="stable")
    columns = {
        "ts": dates.astype(np.int64),
        "open": np.asarray(raw["open"], dtype=np.float64) * factor,
        "high": np.asarray(raw["high"], dtype=np.float64) * factor,
        "low": np.asarray(raw["low"], dtype=np.float64) * factor,
        "close": close * factor,
        "volume": np.asarray(raw["volume"], dtype=np.float64) / factor,
    }
    return pa.table({name: values[order] for name, values in columns.items()})


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for ticker in SYMBOLS:
        table = convert(ticker)
        pq.write_table(table, OUT / f"{ticker}.parquet", compression="zstd")
        print(f"{ticker}: {table.num_rows} rows -> {OUT / f'{ticker}.parquet'}")


if __name__ == "__main__":
    main()
