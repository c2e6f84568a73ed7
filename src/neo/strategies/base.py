"""The strategy contract: small like backtesting.py's, versioned like freqtrade's.

A strategy declares ``name``, ``version`` and typed ``params`` (with defaults), then reacts to the
engine through four hooks. ``on_start`` does bulk, causal set-up (``ctx.indicator``); ``on_bar``
runs once per completed bar and speaks through the context (orders, target positions,
forecasts). The same class runs unchanged in backtest, paper and live: only the engine around
it changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from neo.domain.bar import BarBatch, FloatArray
from neo.domain.errors import StrategyError
from neo.domain.fill import Fill

if TYPE_CHECKING:
    from neo.strategies.context import StrategyContext

_TRUE = {"1", "true", "yes", "on"}
MAX_WINDOW = 10_000_000
"""Longest indicator window a parameter may ask for (bars); more is a typo, not a strategy."""
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class Param:
    """One tunable parameter: its type (int, float, bool or str), default and meaning.

    ``optional`` allows ``None`` (written ``none`` on the command line).
    """

    type: type
    default: Any
    help: str = ""
    optional: bool = False
    minimum: float | None = None
    maximum: float | None = None

    def coerce(self, name: str, value: Any) -> Any:
        """``value`` as this parameter's type; a StrategyError says what is accepted."""
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "")):
            if self.optional:
                return None
            raise StrategyError(f"parameter {name!r} needs a {self.type.__name__} value")
        try:
            result = self._convert(value)
        except (TypeError, ValueError):
            raise StrategyError(
                f"parameter {name!r}: {value!r} is not a valid {self.type.__name__}"
                + (" (or none)" if self.optional else "")
            ) from None
        if self.minimum is not None and result < self.minimum:
            raise StrategyError(f"parameter {name!r} must be >= {self.minimum}, got {result}")
        if self.maximum is not None and result > self.maximum:
            raise StrategyError(
                f"parameter {name!r} must be <= {self.maximum:g}, got {result:g}"
                + (" (a window is a number of bars)" if self.type is int else "")
            )
        return result

    def _convert(self, value: Any) -> Any:
        if self.type is bool:
            text = str(value).strip().lower()
            if isinstance(value, bool) or text in _TRUE | _FALSE:
                return value if isinstance(value, bool) else text in _TRUE
            raise ValueError(value)
        if self.type is int:
            number = float(value)
            if not number.is_integer():
                raise ValueError(value)
            return int(number)
        if self.type is float:
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(value)
            return number
        return str(value)


@dataclass(frozen=True, slots=True)
class StrategyInfo:
    """What ``neo strategies list`` shows about one strategy."""

    name: str
    version: str
    description: str
    params: Mapping[str, Param]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "params": {
                key: {
                    "type": p.type.__name__,
                    "default": p.default,
                    "optional": p.optional,
                    "minimum": p.minimum,
                    "maximum": p.maximum,
                    "help": p.help,
                }
                for key, p in self.params.items()
            },
        }


class Strategy:
    """Base class of every strategy.

    Subclasses set ``name``, ``version``, ``description`` and ``params``; parameter values become
    instance attributes of the same names after validation. Hooks default to doing nothing.
    """

    name: ClassVar[str] = "base"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    params: ClassVar[Mapping[str, Param]] = {}
    needs_predictions: ClassVar[bool] = False
    """Trades on model forecasts (``ctx.prediction``): without them it never orders."""

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "none"
            raise StrategyError(
                f"strategy {self.name!r} has no parameter(s) {', '.join(unknown)}; "
                f"its parameters are: {known}"
            )
        for key, param in self.params.items():
            setattr(self, key, param.coerce(key, values.get(key, param.default)))
        self.validate()

    def validate(self) -> None:
        """Check parameter combinations; raise StrategyError saying how to fix them."""

    def param_values(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.params}

    @classmethod
    def info(cls) -> StrategyInfo:
        return StrategyInfo(cls.name, cls.version, cls.description, dict(cls.params))

    def on_start(self, ctx: StrategyContext) -> None:
        """Bulk, causal set-up: register indicators with ``ctx.indicator``."""

    def on_bar(self, ctx: StrategyContext) -> None:
        """React to the bar that just completed (``ctx.i``)."""

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        """One of this strategy's orders traded."""

    def on_stop(self, ctx: StrategyContext) -> None:
        """The run is over."""

    def vector_targets(
        self, bars: BarBatch, predictions: FloatArray | None = None
    ) -> FloatArray | None:
        """Target positions per bar (signed units, NaN = keep) for the compiled fast path.

        ``bars`` is the whole history (entry ``i`` may use bars ``[0, i]`` only) and
        ``predictions`` the model forecasts aligned to it (NaN where none; None without a model),
        what ``ctx.prediction`` reads on the event path. A strategy returns exactly the targets
        its ``on_bar`` would set; one that cannot (its decisions depend on fills or the account)
        returns None and runs on the event path only. When :attr:`vector_all_equity` is true only
        each target's sign counts: the position is reversed with all available equity.
        """
        return None

    @property
    def vector_all_equity(self) -> bool:
        """Whether :meth:`vector_targets` gives sides to hold with all equity, not units."""
        return False
