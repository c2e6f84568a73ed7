"""Candles POSTed to the API are counted on its /metrics (accepted per instrument, rejected per
rule): the data dashboard and deploy/prometheus read these series from ``neo serve``."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.unit.service.conftest import Service, candles


def _samples(service: Service) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = service.client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_posted_candles_reach_the_metrics(service: Service) -> None:
    accepted = ("neo_candles_accepted_total",
                (("symbol", "DOGE/USDT"), ("timeframe", "1m"), ("venue", "sim")))  # fmt: skip
    rejected = ("neo_candles_rejected_total", (("rule", "ohlc_order"),))
    before = _samples(service)
    rows = candles(10)
    rows[3] = {**rows[3], "high": rows[3]["low"] - 1}  # high below low: ohlc_order
    body = {"venue": "sim", "symbol": "DOGE/USDT", "timeframe": "1m", "candles": rows}
    answer = service.client.post("/v1/candles", json=body, headers=service.auth("trade"))
    assert answer.status_code == 200, answer.text
    after = _samples(service)
    assert after[accepted] - before.get(accepted, 0.0) == 9
    assert after[rejected] - before.get(rejected, 0.0) == 1
