"""The ingestion service's shortcuts give what the general code gives: the timeframe check's
median spacing (``median_spacing``) equals the chunked scan's, and ``IngestReport.to_dict``
equals ``dataclasses.asdict``."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.data.chunked import SeriesScan
from neo.data.ingest import IngestReport, median_spacing


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=-(10**15), max_value=10**15), max_size=40),
    st.booleans(),
)
def test_median_spacing_is_the_scans_lower_median(values: list[int], ordered: bool) -> None:
    ts = np.array(sorted(values) if ordered else values, dtype=np.int64)
    scan = SeriesScan()
    scan.add_steps(np.diff(np.unique(ts)).astype(np.int64))
    assert median_spacing(ts) == scan.median_step()


def test_report_to_dict_is_asdict() -> None:
    report = IngestReport(
        instrument="sim:BTC/USDT", timeframe="1m", source="api:k", rows_read=3, accepted=2,
        rejected=1, merged_duplicates=0, warnings=1, counts_by_rule={"ohlc_order": 1},
        stored=2, inserted=2, updated=0, unchanged=0, gaps=0, missing_bars=0,
        quarantine_path="/q", quarantine_added=1, first_ts=1, last_ts=2, seconds=0.5,
        warning_samples=[{"code": "gap", "ts": 1, "message": "m"}], timeframe_inferred=True,
        replaced=0, other_sources=["x"],
    )  # fmt: skip
    out = report.to_dict()
    assert out == dataclasses.asdict(report)
    out["counts_by_rule"]["ohlc_order"] = 9  # a copy: the frozen report is not changed
    out["warning_samples"][0]["ts"] = 9
    assert report.counts_by_rule == {"ohlc_order": 1} and report.warning_samples[0]["ts"] == 1
