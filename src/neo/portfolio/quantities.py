"""From weights to exchange-valid quantities: lot size, minimum quantity and minimum notional."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument


def weight_to_quantity(
    weight: float, equity: float, price: float, instrument: Instrument | None
) -> float:
    """Signed units worth ``weight × equity`` at ``price``, valid for the exchange.

    Rounds toward zero to the lot size (so an order never overshoots its weight) and returns
    0.0 when the result is below the instrument's minimum quantity or minimum notional.
    """
    if not (math.isfinite(price) and price > 0):
        raise ConfigError(f"cannot size {instrument.id if instrument else 'asset'}: price {price}")
    multiplier = instrument.contract_multiplier if instrument else 1.0
    raw = weight * equity / (price * multiplier)
    if instrument is None:
        return raw
    quantity = instrument.round_quantity(raw)
    size = abs(quantity)
    if size == 0.0 or size < instrument.min_quantity:
        return 0.0
    if size * price * multiplier < instrument.min_notional:
        return 0.0
    return quantity


def weights_to_quantities(
    weights: Sequence[float],
    ids: Sequence[InstrumentId],
    equity: float,
    prices: Sequence[float],
    instruments: Mapping[InstrumentId, Instrument],
) -> dict[InstrumentId, float]:
    """Target quantities for ``ids`` (same order as ``weights`` and ``prices``)."""
    if not (len(weights) == len(ids) == len(prices)):
        raise ConfigError("weights, ids and prices must have the same length")
    return {
        iid: weight_to_quantity(float(w), equity, float(p), instruments.get(iid))
        for w, iid, p in zip(weights, ids, prices, strict=True)
    }
