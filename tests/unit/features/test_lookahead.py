"""No look-ahead: replacing every bar after a random t with noise leaves features at or before
t unchanged, bit for bit, for every feature (including the market the cross-asset ones read)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.features import FeaturePipeline
from tests.unit.features.synthetic import perturb_after, random_walk
from tests.unit.features.test_batch_incremental import ALL_SPECS

PIPELINE = FeaturePipeline(ALL_SPECS)
MAIN = random_walk(260, seed=21)
MARKET = random_walk(260, seed=22, symbol="IDX/USDT")
BASE = PIPELINE.compute(MAIN, context={"IDX": MARKET}).values


@settings(max_examples=25, deadline=None)
@given(t=st.integers(min_value=0, max_value=258), seed=st.integers(0, 2**16))
def test_future_noise_never_changes_the_past(t: int, seed: int) -> None:
    noisy_main = perturb_after(MAIN, t, seed)
    noisy_market = perturb_after(MARKET, t, seed + 1)
    values = PIPELINE.compute(noisy_main, context={"IDX": noisy_market}).values
    assert np.array_equal(values[: t + 1], BASE[: t + 1], equal_nan=True)
    assert not np.array_equal(values[t + 1 :], BASE[t + 1 :], equal_nan=True)


def test_every_feature_is_in_the_look_ahead_pipeline() -> None:
    assert {s.kind for s in PIPELINE.specs} == {s.kind for s in ALL_SPECS}
