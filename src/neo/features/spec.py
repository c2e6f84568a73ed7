"""Feature specifications: features declared as data (name, kind, parameters).

A spec is what config files hold (``{"name": "rsi_14", "kind": "rsi", "window": 14}``) and what
a saved model records, so loading a model can check it meets the same pipeline it was trained on.
Parameters are validated and completed with defaults when parsed, so two spellings of one feature
hash the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from neo.domain.errors import FeatureError
from neo.features import kernels as k

ParamValue = int | float | str | bool
Params = Mapping[str, ParamValue]

_MACD_OUTPUTS = ("macd", "signal", "hist")
_COMPONENTS = ("sin", "cos")


@dataclass(frozen=True, slots=True)
class KindInfo:
    """How one feature kind maps onto its numba kernel."""

    code: int
    defaults: Mapping[str, ParamValue]
    state_size: Callable[[Params], int]
    lookback: Callable[[Params], int]
    encode: Callable[[Params], list[float]]
    minimums: Mapping[str, int]
    needs_market: bool = False


def _i(params: Params, key: str) -> int:
    return int(params[key])


def _window(extra: int) -> Callable[[Params], int]:
    return lambda p: extra + _i(p, "window")


KINDS: dict[str, KindInfo] = {
    "return": KindInfo(
        k.K_RETURN, {"k": 1}, lambda p: 2 + _i(p, "k"), lambda p: _i(p, "k"),
        lambda p: [_i(p, "k")], {"k": 1},
    ),
    "log_return": KindInfo(
        k.K_LOG_RETURN, {"k": 1}, lambda p: 2 + _i(p, "k"), lambda p: _i(p, "k"),
        lambda p: [_i(p, "k")], {"k": 1},
    ),
    "volatility": KindInfo(
        k.K_VOLATILITY, {"window": 20}, _window(2), _window(0),
        lambda p: [_i(p, "window")], {"window": 2},
    ),
    "rsi": KindInfo(
        k.K_RSI, {"window": 14}, lambda p: 4, _window(0),
        lambda p: [_i(p, "window")], {"window": 2},
    ),
    "macd": KindInfo(
        k.K_MACD,
        {"fast": 12, "slow": 26, "signal": 9, "output": "hist", "normalize": False},
        lambda p: 7,
        lambda p: _i(p, "slow") + _i(p, "signal") - 2,
        lambda p: [
            _i(p, "fast"), _i(p, "slow"), _i(p, "signal"),
            _MACD_OUTPUTS.index(str(p["output"])), float(bool(p["normalize"])),
        ],
        {"fast": 2, "slow": 3, "signal": 1},
    ),
    "bb_pctb": KindInfo(
        k.K_BB_PCTB, {"window": 20, "nbdev": 2.0}, _window(1), _window(-1),
        lambda p: [_i(p, "window"), float(p["nbdev"])], {"window": 2},
    ),
    "atr": KindInfo(
        k.K_ATR, {"window": 14, "normalize": False}, lambda p: 3, _window(0),
        lambda p: [_i(p, "window"), float(bool(p["normalize"]))], {"window": 1},
    ),
    "adx": KindInfo(
        k.K_ADX, {"window": 14}, lambda p: 9, lambda p: 2 * _i(p, "window") - 1,
        lambda p: [_i(p, "window")], {"window": 2},
    ),
    "stoch": KindInfo(
        k.K_STOCH, {"k": 14, "d": 3},
        lambda p: 1 + 2 * _i(p, "k") + _i(p, "d"),
        lambda p: _i(p, "k") + _i(p, "d") - 2,
        lambda p: [_i(p, "k"), _i(p, "d")], {"k": 1, "d": 1},
    ),
    "obv": KindInfo(
        k.K_OBV, {"window": 0}, lambda p: 4 + 2 * _i(p, "window"), _window(0),
        lambda p: [_i(p, "window")], {"window": 0},
    ),
    "volume_zscore": KindInfo(
        k.K_VOLUME_Z, {"window": 20}, _window(1), _window(-1),
        lambda p: [_i(p, "window")], {"window": 2},
    ),
    "skew": KindInfo(
        k.K_SKEW, {"window": 20}, _window(2), _window(0),
        lambda p: [_i(p, "window")], {"window": 3},
    ),
    "time_of_day": KindInfo(
        k.K_TIME_OF_DAY, {"component": "sin"}, lambda p: 1, lambda p: 0,
        lambda p: [_COMPONENTS.index(str(p["component"]))], {},
    ),
    "day_of_week": KindInfo(
        k.K_DAY_OF_WEEK, {"component": "sin"}, lambda p: 1, lambda p: 0,
        lambda p: [_COMPONENTS.index(str(p["component"]))], {},
    ),
    "market_return": KindInfo(
        k.K_MARKET_RETURN, {"k": 1, "market": "market"}, lambda p: 3 + _i(p, "k"),
        lambda p: _i(p, "k"), lambda p: [_i(p, "k")], {"k": 1}, needs_market=True,
    ),
    "market_corr": KindInfo(
        k.K_MARKET_CORR, {"window": 20, "market": "market"},
        lambda p: 4 + 2 * _i(p, "window"), _window(0),
        lambda p: [_i(p, "window")], {"window": 2}, needs_market=True,
    ),
}  # fmt: skip

_CHOICES: dict[str, tuple[str, ...]] = {"output": _MACD_OUTPUTS, "component": _COMPONENTS}


def _coerce(kind: str, key: str, value: Any, default: ParamValue) -> ParamValue:
    """Check one parameter against its default's type, so config typos fail early."""
    where = f"feature kind {kind!r} parameter {key!r}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise FeatureError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise FeatureError(f"{where} must be a whole number, got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise FeatureError(f"{where} must be a positive number, got {value!r}")
        return float(value)
    if not isinstance(value, str) or not value:
        raise FeatureError(f"{where} must be a non-empty string, got {value!r}")
    choices = _CHOICES.get(key)
    if choices is not None and value not in choices:
        raise FeatureError(f"{where} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _resolve(kind: str, given: Mapping[str, Any]) -> dict[str, ParamValue]:
    info = KINDS.get(kind)
    if info is None:
        raise FeatureError(f"unknown feature kind {kind!r}: use one of {', '.join(sorted(KINDS))}")
    unknown = sorted(set(given) - set(info.defaults))
    if unknown:
        allowed = ", ".join(info.defaults) or "none"
        raise FeatureError(
            f"feature kind {kind!r} has no parameter(s) {', '.join(unknown)}; allowed: {allowed}"
        )
    params = {
        key: _coerce(kind, key, given.get(key, default), default)
        for key, default in info.defaults.items()
    }
    for key, minimum in info.minimums.items():
        if int(params[key]) < minimum:
            raise FeatureError(
                f"feature kind {kind!r} parameter {key!r} must be >= {minimum}, got {params[key]}"
            )
    if kind == "macd" and int(params["fast"]) >= int(params["slow"]):
        raise FeatureError("feature kind 'macd' needs fast < slow, e.g. fast=12, slow=26")
    return params


class FeatureSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One feature: its column ``name``, its ``kind`` and its complete, validated ``params``."""

    name: str
    kind: str
    params: tuple[tuple[str, ParamValue], ...] = ()

    @classmethod
    def of(cls, name: str, kind: str, **params: Any) -> FeatureSpec:
        """Build and validate a spec from keyword parameters."""
        if not name or not isinstance(name, str):
            raise FeatureError(f"a feature needs a non-empty name, got {name!r}")
        resolved = _resolve(kind, params)
        return cls(name=name, kind=kind, params=tuple(sorted(resolved.items())))

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Read the config form ``{"name": "rsi_14", "kind": "rsi", "window": 14}``.

        Parameters may also be nested under ``"params"``.
        """
        if not isinstance(data, Mapping):
            raise FeatureError(f"a feature spec must be a table/dict, got {data!r}")
        fields = dict(data)
        name = fields.pop("name", None)
        kind = fields.pop("kind", None)
        if not isinstance(name, str) or not isinstance(kind, str):
            raise FeatureError(
                f"feature spec {dict(data)!r} needs string 'name' and 'kind' keys, "
                'e.g. {"name": "rsi_14", "kind": "rsi", "window": 14}'
            )
        nested = fields.pop("params", {})
        if not isinstance(nested, Mapping):
            raise FeatureError(f"feature {name!r}: 'params' must be a table/dict")
        return cls.of(name, kind, **{**dict(nested), **fields})

    @property
    def info(self) -> KindInfo:
        return KINDS[self.kind]

    def param(self, key: str) -> ParamValue:
        return dict(self.params)[key]

    @property
    def lookback(self) -> int:
        """Index of the first bar with a value: rows before it are NaN (warm-up)."""
        return self.info.lookback(dict(self.params))

    @property
    def market(self) -> str | None:
        """The context series a cross-asset feature reads, else None."""
        return str(self.param("market")) if self.info.needs_market else None

    def to_dict(self) -> dict[str, ParamValue]:
        return {"name": self.name, "kind": self.kind, **dict(self.params)}
