"""``[instruments]`` in neo.toml: the exchange rules backtest and paper trade with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from neo.cli.main import app
from neo.data.store import HistoricalDataStore
from neo.domain import InstrumentId
from neo.engine.config import InstrumentSpec
from neo.engine.instruments import configured_instrument, default_instrument
from neo.settings import load_settings
from tests.unit.engine.bars import walk

runner = CliRunner()
ARGS = ["backtest", "--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=15",
        "--symbols", "BTC/USDT", "--json"]  # fmt: skip


@pytest.fixture
def stored() -> None:
    HistoricalDataStore.from_settings(load_settings()).write(walk(400, seed=5, symbol="BTC/USDT"))


def _run(config: Path | None, *extra: str) -> dict[str, Any]:
    head = [] if config is None else ["--config", str(config)]
    result = runner.invoke(app, [*head, *ARGS, *extra])
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def test_lookup_prefers_the_venue_entry() -> None:
    specs = {"BTC/USDT": InstrumentSpec(taker_fee=0.001), "BTC/USDT@binance": InstrumentSpec()}
    assert configured_instrument(InstrumentId("sim", "BTC/USDT"), specs).taker_fee == 0.001
    assert configured_instrument(InstrumentId("binance", "BTC/USDT"), specs).taker_fee == 0.0
    eth = InstrumentId("sim", "ETH/USDT")
    assert configured_instrument(eth, specs) == default_instrument(eth)


@pytest.mark.usefixtures("stored")
def test_instrument_fees_and_lots_reach_the_broker(tmp_path: Path) -> None:
    config = tmp_path / "neo.toml"
    config.write_text('[instruments."BTC/USDT"]\ntaker_fee = 0.001\nlot_size = 0.01\n')
    configured = _run(config)
    by_flag = _run(None, "--fees-bps", "10")  # the same 10 bps, from the flag instead
    plain = _run(None)
    assert plain["fees"] == 0.0 and configured["fees"] > 0.0
    quantities = [t["quantity"] for t in configured["trades"]]
    assert any(round(q) != q for q in quantities)  # fractional lots of 0.01 now
    assert all(abs(q * 100 - round(q * 100)) < 1e-6 for q in quantities)
    whole = [t["quantity"] for t in by_flag["trades"]]
    assert all(q == round(q) for q in whole)  # the default instrument trades whole units
    assert configured["fees"] == pytest.approx(by_flag["fees"], rel=0.02)  # same rate, finer lots
    override = _run(config, "--fees-bps", "0")  # the flag wins over the instrument
    assert override["fees"] == 0.0


def test_bad_instrument_config_is_one_error_line(tmp_path: Path) -> None:
    config = tmp_path / "neo.toml"
    config.write_text('[instruments."BTC/USDT"]\nlot_size = -1\n')
    result = runner.invoke(app, ["--config", str(config), *ARGS])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "lot_size" in lines[0]
