"""Feature specs parse from config data, reject mistakes clearly, and hash by meaning."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from neo.domain import FeatureError
from neo.features import (
    FeaturePipeline,
    FeatureSpec,
    default_pipeline,
    pipeline_from_config,
)
from neo.features.config import FeatureConfig
from tests.unit.features.synthetic import random_walk


def test_parse_fills_defaults_and_hashes_by_meaning() -> None:
    short = FeatureSpec.parse({"name": "rsi_14", "kind": "rsi"})
    spelled = FeatureSpec.parse({"name": "rsi_14", "kind": "rsi", "params": {"window": 14}})
    assert short == spelled and short.param("window") == 14 and short.lookback == 14
    assert FeaturePipeline([short]).spec_hash() == FeaturePipeline([spelled]).spec_hash()
    other = FeaturePipeline([FeatureSpec.parse({"name": "rsi_14", "kind": "rsi", "window": 9})])
    assert other.spec_hash() != FeaturePipeline([short]).spec_hash()
    assert FeatureSpec.parse(short.to_dict()) == short
    assert hash(short) == hash(spelled)


def test_parse_from_toml() -> None:
    text = """
    specs = [
      {name = "rsi_14", kind = "rsi", window = 14},
      {name = "macd", kind = "macd", fast = 8, slow = 21, output = "signal"},
      {name = "bb", kind = "bb_pctb", nbdev = 2},
    ]
    """
    pipeline = FeaturePipeline.from_config(tomllib.loads(text)["specs"])
    assert pipeline.names == ["rsi_14", "macd", "bb"]
    assert pipeline.specs[2].param("nbdev") == 2.0
    assert pipeline.lookback == 21 + 9 - 2
    assert pipeline.lookbacks()["bb"] == 19
    assert FeaturePipeline.from_config(pipeline.to_config()).spec_hash() == pipeline.spec_hash()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "kind": "nope"}, "unknown feature kind"),
        ({"name": "x", "kind": "rsi", "span": 3}, "no parameter"),
        ({"name": "x", "kind": "rsi", "window": 1}, ">= 2"),
        ({"name": "x", "kind": "rsi", "window": 2.5}, "whole number"),
        ({"name": "x", "kind": "rsi", "window": True}, "whole number"),
        ({"name": "x", "kind": "bb_pctb", "nbdev": -1}, "positive"),
        ({"name": "x", "kind": "atr", "normalize": "yes"}, "true or false"),
        ({"name": "x", "kind": "macd", "output": "line"}, "one of"),
        ({"name": "x", "kind": "macd", "fast": 30, "slow": 26}, "fast < slow"),
        ({"name": "x", "kind": "market_return", "market": ""}, "non-empty"),
        ({"kind": "rsi"}, "'name' and 'kind'"),
        ({"name": "x", "kind": "rsi", "params": 3}, "params"),
        ({"name": "", "kind": "rsi"}, "non-empty name"),
    ],
)
def test_bad_specs_say_what_to_fix(data: dict[str, object], message: str) -> None:
    with pytest.raises(FeatureError, match=message):
        FeatureSpec.parse(data)


def test_parse_rejects_non_mapping() -> None:
    with pytest.raises(FeatureError, match="table/dict"):
        FeatureSpec.parse(["rsi"])  # type: ignore[arg-type]


def test_pipeline_rejects_empty_and_duplicates() -> None:
    with pytest.raises(FeatureError, match="at least one"):
        FeaturePipeline([])
    spec = FeatureSpec.of("a", "rsi")
    with pytest.raises(FeatureError, match="duplicate"):
        FeaturePipeline([spec, spec])


def test_missing_context_is_a_clear_error() -> None:
    pipeline = FeaturePipeline([FeatureSpec.of("m", "market_return", market="BTC/USDT")])
    with pytest.raises(FeatureError, match="context series 'BTC/USDT'"):
        pipeline.compute(random_walk(30, 1))
    empty_market = random_walk(30, 2).slice(0, 0)
    values = pipeline.compute(random_walk(30, 1), context={"BTC/USDT": empty_market}).values
    assert np.isnan(values).all()


def test_feature_frame_accessors() -> None:
    batch = random_walk(60, 5)
    frame = default_pipeline().compute(batch)
    assert len(frame) == 60 and frame.values.shape == (60, 20)
    assert not frame.values.flags.writeable
    np.testing.assert_array_equal(frame.column("ret_1")[1:], batch.close[1:] / batch.close[:-1] - 1)
    with pytest.raises(FeatureError, match="no feature named"):
        frame.column("nope")
    table = frame.to_pandas()
    assert tuple(table.columns) == frame.names and table.index.tz is not None
    assert frame.valid_rows().sum() == 60 - default_pipeline().lookback


def test_default_pipeline_and_config() -> None:
    pipeline = default_pipeline()
    assert len(pipeline) == 20 and len(set(pipeline.names)) == 20
    assert pipeline_from_config(FeatureConfig()).spec_hash() == pipeline.spec_hash()
    with_market = pipeline_from_config(FeatureConfig(market="BTC/USDT"))
    assert with_market.markets == ["BTC/USDT"] and len(with_market) == 22
    custom = pipeline_from_config(FeatureConfig(specs=[{"name": "r", "kind": "return"}]))
    assert custom.names == ["r"] and custom.incremental().names == ["r"]
