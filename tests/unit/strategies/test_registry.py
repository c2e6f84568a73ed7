"""Users' strategies run wherever the shipped ones do: files, modules and installed plugins."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neo.cli.main import app
from neo.domain.errors import StrategyError
from neo.strategies.registry import find_strategy, list_strategies

runner = CliRunner()

MOMENTUM = '''
from neo.strategies import Strategy, StrategyContext, param


class Momentum(Strategy):
    """Long after `lookback` rising closes, flat otherwise."""

    version = "3"
    lookback: int = param(3, minimum=1, help="rising closes in a row")

    def __init__(self, note: str = "mine", **params):
        super().__init__(**params)
        self.note = note

    def on_bar(self, ctx: StrategyContext) -> None:
        i = ctx.i
        if i < self.lookback:
            return
        rising = all(ctx.close[j] > ctx.close[j - 1] for j in range(i - self.lookback + 1, i + 1))
        ctx.signal(1.0 if rising else 0.0)
'''


@pytest.fixture
def on_path(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("neo_test_plug")]:
        del sys.modules[name]


def test_a_file_names_its_class(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(MOMENTUM)
    found = find_strategy(f"{path}:Momentum")
    assert (found.source, found.cls.name, found.cls.version) == ("file", "Momentum", "3")
    strategy = found.cls(lookback="4")
    assert strategy.param_values() == {"lookback": 4, "size": "equity"}


def test_a_module_names_its_class(on_path: Path) -> None:
    (on_path / "neo_test_plug_mod.py").write_text(MOMENTUM)
    found = find_strategy("neo_test_plug_mod:Momentum")
    assert found.source == "module" and found.cls.__name__ == "Momentum"


def test_an_installed_plugin_is_found_by_its_entry_point(on_path: Path) -> None:
    (on_path / "neo_test_plug_ep.py").write_text(MOMENTUM)
    info = on_path / "neo_test_plug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: neo-test-plug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[neo.strategies]\nrising = neo_test_plug_ep:Momentum\n")
    importlib.invalidate_caches()
    found = find_strategy("rising")
    assert (found.source, found.origin) == ("plugin", "neo_test_plug_ep:Momentum")
    listed = {i.name: i for i in list_strategies()}
    assert listed["Momentum"].source == "plugin"
    result = runner.invoke(app, ["strategies", "list", "--json"])
    sources = {s["name"]: s["source"] for s in json.loads(result.stdout)["strategies"]}
    assert sources["Momentum"] == "plugin" and sources["sma_cross"] == "builtin"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\ndef broken(:\n", r"mine\.py, line 2: SyntaxError"),
        ("import os\nimport neo_no_such_module_xyz\n", r"mine\.py, line 2: ModuleNotFoundError"),
        ("a = 1\nb = 2\nraise RuntimeError('boom')\n", r"mine\.py, line 3: RuntimeError: boom"),
        ("class Momentum:\n    pass\n", "is not a strategy; derive it"),
        (
            "from neo.strategies import Strategy\nclass Momentum(Strategy):\n    x: int = 1\n",
            "does not define on_bar",
        ),
        ("x = 1\n", "has no class 'Momentum'"),
    ],
)
def test_errors_in_a_users_file_are_one_line_with_file_and_line(
    tmp_path: Path, source: str, message: str
) -> None:
    path = tmp_path / "mine.py"
    path.write_text(source)
    with pytest.raises(StrategyError, match=message) as caught:
        find_strategy(f"{path}:Momentum")
    assert "\n" not in str(caught.value)
    result = runner.invoke(app, ["strategies", "list", "--load", f"{path}:Momentum"])
    assert result.exit_code != 0
    assert result.output.startswith("error: ") and result.output.count("\n") == 1


def test_unknown_names_say_how_to_name_a_strategy(tmp_path: Path) -> None:
    with pytest.raises(StrategyError, match=r"path/to/file\.py:ClassName"):
        find_strategy("nope")
    with pytest.raises(StrategyError, match="does not exist"):
        find_strategy(f"{tmp_path / 'missing.py'}:X")
    with pytest.raises(StrategyError, match="no module named 'neo_missing_mod'"):
        find_strategy("neo_missing_mod:X")


@pytest.fixture
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for args in (
        ["simulate", "--out", "bars.csv", "--bars", "600", "--symbols", "BTC/USDT,ETH/USDT"],
        ["ingest", "bars.csv", "--symbol", "BTC/USDT"],
        ["ingest", "bars.csv", "--symbol", "ETH/USDT"],
    ):
        assert runner.invoke(app, args).exit_code == 0
    (tmp_path / "mine.py").write_text(
        MOMENTUM
        + textwrap.dedent("""
        import numpy as np

        class VectorMomentum(Momentum):
            def vector_targets(self, bars, predictions=None):
                close = np.asarray(bars.close)
                up = np.concatenate(([False], close[1:] > close[:-1]))
                run = np.ones(len(close), dtype=bool)
                for k in range(self.lookback):
                    run &= np.concatenate((np.zeros(k, dtype=bool), up[: len(up) - k]))
                out = np.where(run, 1.0, 0.0)
                out[: self.lookback] = np.nan
                return out
    """)
    )
    return tmp_path


def _run(args: list[str]) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


@pytest.mark.usefixtures("stored")
def test_a_users_file_runs_in_backtest_paper_fast_path_and_on_several_instruments() -> None:
    one = ["--strategy", "mine.py:VectorMomentum", "--symbol", "BTC/USDT"]
    event = _run(["backtest", *one])
    fast = _run(["backtest", *one, "--engine", "fast"])
    assert event["trades"] == fast["trades"] and len(event["trades"]) > 10  # type: ignore[arg-type]
    assert event["strategy"] == "VectorMomentum" and event["version"] == "3"
    two = ["--strategy", "mine.py:Momentum", "--symbols", "BTC/USDT,ETH/USDT"]
    several = _run(["backtest", *two, "--param", "size=units:1", "--param", "lookback=2"])
    traded = {t["instrument"] for t in several["trades"]}  # type: ignore[attr-defined]
    assert traded == {"BTC/USDT@sim", "ETH/USDT@sim"}
    paper = _run(["paper", *one, "--feed", "replay", "--cycles", "300"])
    assert paper["fills"] > 0  # type: ignore[operator]
    check = runner.invoke(
        app, ["strategies", "check", "mine.py:VectorMomentum", "--symbol", "BTC/USDT"]
    )
    assert check.exit_code == 0 and "agree" in check.output


def test_errors_in_modules_and_plugins_name_the_line(on_path: Path) -> None:
    (on_path / "neo_test_plug_bad.py").write_text("x = 1\nraise ValueError('bad value')\n")
    with pytest.raises(StrategyError, match=r"neo_test_plug_bad\.py, line 2: ValueError: bad"):
        find_strategy("neo_test_plug_bad:Anything")
    info = on_path / "neo_test_plug_b-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: neo-test-plug-b\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[neo.strategies]\nbroken = neo_test_plug_bad:X\n")
    importlib.invalidate_caches()
    listed = {i.name: i for i in list_strategies()}
    assert listed["broken"].description.startswith("cannot load: ")
    with pytest.raises(StrategyError, match="cannot load plugin broken"):
        find_strategy("broken")
    with pytest.raises(StrategyError, match="name the class after the colon"):
        find_strategy("neo.strategies.rule:")
