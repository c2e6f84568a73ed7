"""Real historical market data shipped with NEO, for the demo and the tests (no downloads).

Daily split/dividend-adjusted OHLCV of five US stocks (2000–2013, from bokeh-sampledata; see
``SOURCE.md`` beside this file) as ``<TICKER>/USD`` on venue ``nasdaq``, timeframe ``1d``; and
skfolio's S&P 500 adjusted closes, read from the installed package at run time.

Daily stocks have genuine double-digit moves, so the default jump limit for ``1d`` bars is 25 %
(``ValidationConfig.max_jump_by_timeframe``), not 10 %. Beyond it, AAPL's 52 % fall on
2000-09-29 is confirmed by the days after it: :func:`ingest_samples` keeps it, with a
``price_jump_confirmed`` warning, and quarantines nothing. The venue ``nasdaq`` trades on the
``XNAS`` calendar (``[venues.nasdaq]``), so weekends and holidays are not gaps.

Samples never change a user's data: a sample whose series already holds bars from any other
source (a file the user ingested) is skipped with a message, so the demo neither overwrites
nor splices the user's series (see :func:`ingest_samples_report`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neo.domain.bar import BarBatch
from neo.domain.errors import DataNotFoundError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe

if TYPE_CHECKING:
    from neo.data.ingest import DataIngestionAPI, IngestReport

SAMPLES_DIR = Path(__file__).resolve().parent
SAMPLE_VENUE = "nasdaq"
SAMPLE_TIMEFRAME = Timeframe.parse("1d")
_TICKERS = ("AAPL", "IBM", "MSFT", "GOOG", "FB")


@dataclass(frozen=True, slots=True)
class SampleInfo:
    symbol: str
    venue: str
    timeframe: str
    rows: int
    first_ts: int
    last_ts: int
    path: Path

    @property
    def instrument(self) -> InstrumentId:
        return InstrumentId(self.venue, self.symbol)


def _ticker(symbol: str) -> str:
    ticker = symbol.split("@")[0].split("/")[0].upper()
    if ticker not in _TICKERS:
        raise DataNotFoundError(
            f"no sample named {symbol!r}: choose one of {', '.join(t + '/USD' for t in _TICKERS)}"
        )
    return ticker


def sample_path(symbol: str) -> Path:
    """The Parquet file of one sample (``"AAPL/USD"`` or just ``"AAPL"``)."""
    return SAMPLES_DIR / f"{_ticker(symbol)}.parquet"


def load_sample(symbol: str) -> BarBatch:
    """One sample as a BarBatch on venue ``nasdaq``, timeframe ``1d``."""
    import pyarrow.parquet as pq

    table = pq.read_table(sample_path(symbol))
    instrument = InstrumentId(SAMPLE_VENUE, f"{_ticker(symbol)}/USD")
    return BarBatch.from_arrays(
        instrument,
        SAMPLE_TIMEFRAME,
        **{name: table.column(name).to_numpy() for name in table.column_names},
    )


def list_samples() -> list[SampleInfo]:
    """Every shipped sample with its span."""
    out = []
    for ticker in _TICKERS:
        batch = load_sample(ticker)
        out.append(
            SampleInfo(
                batch.instrument.symbol,
                SAMPLE_VENUE,
                str(SAMPLE_TIMEFRAME),
                len(batch),
                int(batch.ts[0]),
                int(batch.ts[-1]),
                sample_path(ticker),
            )
        )
    return out


def ingest_samples(api: DataIngestionAPI) -> list[IngestReport]:
    """Validate and store every sample through ``api`` (idempotent, like any ingestion);
    samples whose series hold the user's data are skipped (see :func:`ingest_samples_report`)."""
    return ingest_samples_report(api)[0]


def ingest_samples_report(api: DataIngestionAPI) -> tuple[list[IngestReport], list[str]]:
    """Ingest every sample whose series is empty or holds only that sample's bars; the
    reports and one message per skipped sample (its series holds another source's bars)."""
    from neo.data.store.provenance import Provenance

    reports, skipped = [], []
    for info in list_samples():
        provenance = Provenance.of_sample(info.path.name, info.path)
        others = _other_sources(api, info.instrument, provenance.source)
        if others:
            skipped.append(
                f"sample {info.path.name} not ingested: {info.instrument} {SAMPLE_TIMEFRAME} "
                f"holds bars from {', '.join(others)}, and samples never change your data "
                f"(to compare, ingest it elsewhere: `neo ingest {info.path} --venue samples "
                f"--symbol {info.symbol}`)"
            )
            continue
        reports.append(
            api.ingest_frame(
                load_sample(info.symbol),
                instrument=info.instrument,
                timeframe=SAMPLE_TIMEFRAME,
                source=provenance.source,
                provenance=provenance,
            )
        )
    return reports, skipped


def _other_sources(api: DataIngestionAPI, instrument: InstrumentId, source: str) -> list[str]:
    try:
        stored = api.store.provenance(instrument, SAMPLE_TIMEFRAME)["sources"]
    except DataNotFoundError:
        return []
    return [name for name in stored if name != source]


def load_sp500_closes() -> Any:
    """skfolio's S&P 500 dataset: daily adjusted closes of 20 stocks, 1990–2022 (DataFrame
    indexed by date, one column per ticker), read from the installed package."""
    from skfolio.datasets import load_sp500_dataset

    return load_sp500_dataset()
