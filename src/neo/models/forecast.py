"""The forecast convention at the model → strategy boundary (numpy only: cheap to import)."""

from __future__ import annotations

import numpy as np

from neo.domain.bar import FloatArray


def signed_forecast(prediction: FloatArray, task: str) -> FloatArray:
    """The one convention strategies read: > 0 expects a rise, < 0 a fall, 0 no view.

    A classifier's P(forward return > 0) maps to ``2p - 1`` (in [-1, 1]); a regressor's
    forecast return is already signed. NaN (no model yet) stays NaN.
    """
    values = np.asarray(prediction, dtype=np.float64)
    if task == "classification":
        centred: FloatArray = 2.0 * values - 1.0
        return centred
    return values
