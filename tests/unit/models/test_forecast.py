from __future__ import annotations

import numpy as np

from neo.models import signed_forecast


def test_classification_probabilities_map_to_signed_forecasts() -> None:
    p = np.array([0.0, 0.25, 0.5, 0.9, 1.0, np.nan])
    out = signed_forecast(p, "classification")
    np.testing.assert_allclose(out[:5], [-1.0, -0.5, 0.0, 0.8, 1.0])
    assert np.isnan(out[5])


def test_regression_forecasts_pass_through() -> None:
    r = np.array([-0.01, 0.0, 0.02])
    np.testing.assert_array_equal(signed_forecast(r, "regression"), r)
