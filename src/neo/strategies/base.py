"""The strategy contract: small like backtesting.py's, versioned like freqtrade's.

A strategy declares ``name``, ``version`` and its parameters, once, as typed class attributes
with defaults and optional bounds::

    class MyCross(Strategy):
        fast: int = param(10, minimum=2, help="fast average period (bars)")
        slow: int = 30                       # a plain default: a parameter without bounds

        def on_bar(self, ctx: StrategyContext) -> None: ...

then reacts to the engine through four hooks. ``on_start`` does bulk, causal set-up
(``ctx.indicator``); ``on_bar`` (the one hook a strategy must define) runs once per completed bar
and speaks through the context (signals sized by the run's sizing, orders, target positions,
forecasts). The same class runs unchanged in backtest, paper and live: only the engine around it
changes. Every strategy also takes ``size`` (see :mod:`neo.risk.sizing`).
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from neo.domain.bar import BarBatch, FloatArray
from neo.domain.errors import ConfigError, StrategyError
from neo.domain.fill import Fill
from neo.risk.sizing import SIZING_GRAMMAR, Sizing, parse_sizing

if TYPE_CHECKING:
    from neo.strategies.context import StrategyContext

_TRUE = {"1", "true", "yes", "on"}
MAX_WINDOW = 10_000_000
"""Longest indicator window a parameter may ask for (bars); more is a typo, not a strategy."""
_FALSE = {"0", "false", "no", "off"}
_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str}
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Param:
    """One tunable parameter: its type (int, float, bool or str), default and meaning.

    ``optional`` allows ``None`` (written ``none`` on the command line). Strategies declare
    parameters with :func:`param` (or a plain default) on a typed class attribute, which makes
    one of these from the annotation.
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


class _Declared:
    """What :func:`param` puts on the class until ``__init_subclass__`` reads the annotation."""

    __slots__ = ("default", "help", "maximum", "minimum")

    def __init__(
        self, default: Any, help: str, minimum: float | None, maximum: float | None
    ) -> None:
        self.default = default
        self.help = help
        self.minimum = minimum
        self.maximum = maximum


def param(
    default: T,
    *,
    help: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
) -> T:
    """Declare a strategy parameter on a typed class attribute: ``fast: int = param(10, ...)``.

    The annotation gives the type (``int``, ``float``, ``bool`` or ``str``; ``X | None`` allows
    none); values from the command line are coerced to it and checked against the bounds.
    """
    return cast(T, _Declared(default, help, minimum, maximum))


def _annotation_type(owner: str, name: str, annotation: Any) -> tuple[type, bool]:
    """(type, optional) of a parameter's annotation, string (postponed) or real."""
    if isinstance(annotation, str):
        parts = [p.strip() for p in annotation.replace("Optional[", "").rstrip("]").split("|")]
        optional = "None" in parts or annotation.startswith("Optional[")
        names = [p for p in parts if p != "None"]
        if len(names) == 1 and names[0] in _TYPES:
            return _TYPES[names[0]], optional
    else:
        args = typing.get_args(annotation)
        is_union = isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is (
            typing.Union
        )
        if is_union:
            kinds = [a for a in args if a is not type(None)]
            if len(kinds) == 1 and kinds[0] in _TYPES.values():
                return kinds[0], len(kinds) < len(args)
        elif annotation in _TYPES.values():
            return annotation, False
    raise StrategyError(
        f"{owner}: parameter {name!r} is annotated {annotation!r}; parameters are int, float, "
        "bool or str (optionally `| None`)"
    )


def _declared_params(cls: type) -> dict[str, Param]:
    """The parameters ``cls`` itself declares: annotated, public, with a class-level default."""
    found: dict[str, Param] = {}
    for name, annotation in inspect.get_annotations(cls).items():
        text = annotation if isinstance(annotation, str) else repr(annotation)
        if name.startswith("_") or "ClassVar" in text or name not in cls.__dict__:
            continue
        value = cls.__dict__[name]
        if isinstance(value, _Declared):
            kind, optional = _annotation_type(cls.__name__, name, annotation)
            spec = Param(kind, value.default, value.help, optional, value.minimum, value.maximum)
        elif value is None or isinstance(value, int | float | str):
            kind, optional = _annotation_type(cls.__name__, name, annotation)
            spec = Param(kind, value, "", optional)
        else:
            continue
        if spec.default is not None:
            spec = replace(spec, default=spec.coerce(name, spec.default))
        found[name] = spec
        setattr(cls, name, spec.default)  # an instance that skips __init__ still reads a value
    return found


@dataclass(frozen=True, slots=True)
class StrategyInfo:
    """What ``neo strategies list`` shows about one strategy."""

    name: str
    version: str
    description: str
    params: Mapping[str, Param]
    source: str = "builtin"
    """builtin, file, module or plugin."""
    origin: str = ""
    """Where it was loaded from: ``path.py:Class``, ``module:Class`` or the plugin's entry point."""
    has_vector_form: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "source": self.source,
            "origin": self.origin,
            "vector_form": self.has_vector_form,
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


SIZE_HELP = f"position sizing: {SIZING_GRAMMAR} (see docs/strategies.md)"


class Strategy(ABC):
    """Base class of every strategy.

    Subclasses set ``name``, ``version`` and ``description`` and declare parameters as typed
    class attributes (:func:`param`); validated values become instance attributes of the same
    names. ``on_bar`` is abstract; the other hooks default to doing nothing. A subclass may
    define its own ``__init__`` (accepting ``**params`` and calling ``super().__init__``): the
    engine makes each further instrument's instance with the same arguments (:meth:`clone`).
    """

    name: ClassVar[str] = "base"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    params: ClassVar[Mapping[str, Param]] = {}
    """Derived from the typed class attributes: never written by hand."""
    needs_predictions: ClassVar[bool] = False
    """Trades on model forecasts (``ctx.prediction``): without them it never orders."""
    default_size: ClassVar[str] = "equity"
    """Sizing when neither ``--param size`` nor ``[sizing]`` says otherwise."""
    sizing: Sizing
    _init_args: tuple[tuple[Any, ...], dict[str, Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "params" in cls.__dict__:
            raise StrategyError(
                f"{cls.__name__}: declare parameters once, as typed class attributes "
                "(`fast: int = param(10, minimum=2)`), not in a `params` mapping"
            )
        if "name" not in cls.__dict__:
            cls.name = cls.__name__
        inherited: dict[str, Param] = {}
        for base in reversed(cls.__mro__[1:]):
            inherited.update(getattr(base, "params", {}))
        cls.params = {**inherited, **_declared_params(cls)}
        if "size" in cls.params:
            raise StrategyError(
                f"{cls.__name__}: `size` is the sizing every strategy takes; set "
                "`default_size` instead of declaring it"
            )

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = super().__new__(cls)
        instance._init_args = (args, dict(kwargs))
        return instance

    def __init__(self, **values: Any) -> None:
        known = {**self.params, "size": None}
        unknown = sorted(set(values) - set(known))
        if unknown:
            names = ", ".join(known)
            raise StrategyError(
                f"strategy {self.name!r} has no parameter(s) {', '.join(unknown)}; "
                f"its parameters are: {names}"
            )
        for key, spec in self.params.items():
            setattr(self, key, spec.coerce(key, values.get(key, spec.default)))
        try:
            self.sizing = parse_sizing(values.get("size", self.default_size))
        except ConfigError as exc:
            raise StrategyError(f"strategy {self.name!r}: {exc}") from None
        self.validate()

    def clone(self) -> Strategy:
        """A fresh instance made exactly as this one was (its own ``__init__``, same arguments):
        what each further instrument of a run gets."""
        args, kwargs = getattr(self, "_init_args", ((), self.param_values()))
        return type(self)(*args, **kwargs)

    def validate(self) -> None:  # noqa: B027 - an optional hook
        """Check parameter combinations; raise StrategyError saying how to fix them."""

    def param_values(self) -> dict[str, Any]:
        values = {key: getattr(self, key) for key in self.params}
        values["size"] = str(getattr(self, "sizing", parse_sizing(self.default_size)))
        return values

    @classmethod
    def info(cls, source: str = "builtin", origin: str = "") -> StrategyInfo:
        size = Param(str, cls.default_size, SIZE_HELP)
        return StrategyInfo(
            cls.name,
            cls.version,
            cls.description,
            {**cls.params, "size": size},
            source,
            origin or f"{cls.__module__}:{cls.__qualname__}",
            cls.vector_targets is not Strategy.vector_targets,
        )

    def on_start(self, ctx: StrategyContext) -> None:  # noqa: B027 - an optional hook
        """Bulk, causal set-up: register indicators with ``ctx.indicator``."""

    @abstractmethod
    def on_bar(self, ctx: StrategyContext) -> None:
        """React to the bar that just completed (``ctx.i``)."""

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:  # noqa: B027 - an optional hook
        """One of this strategy's orders traded."""

    def on_stop(self, ctx: StrategyContext) -> None:  # noqa: B027 - an optional hook
        """The run is over."""

    def vector_targets(
        self, bars: BarBatch, predictions: FloatArray | None = None
    ) -> FloatArray | None:
        """Signals per bar for the compiled fast path: what ``on_bar`` passes to ``ctx.signal``
        (> 0 long, < 0 short, 0 flat, NaN = keep), sized by the run's sizing like the event path.

        ``bars`` is the whole history (entry ``i`` may use bars ``[0, i]`` only) and
        ``predictions`` the model forecasts aligned to it (NaN where none; None without a model),
        what ``ctx.prediction`` reads on the event path. A strategy whose decisions depend on
        fills or the account returns None and runs on the event path only. With ``units:N``
        sizing a signal s holds ``s × N`` units; with ``equity``/``fraction`` only its sign
        counts. ``neo strategies check`` compares the two forms on data.
        """
        return None

    @property
    def vector_all_equity(self) -> bool:
        """Whether the fast path sizes at fill time from equity (``equity``/``fraction``)."""
        return self.sizing.fill_fraction is not None

    def fast_path_problem(self, instruments: int) -> str | None:
        """Why this strategy, as configured, cannot run on the fast path (None: it can)."""
        if self.vector_targets.__func__ is Strategy.vector_targets:  # type: ignore[attr-defined]
            return (
                f"{self.name} has no vector form (its decisions depend on fills or the "
                "account): use --engine event"
            )
        if self.sizing.at_decision:
            return (
                f"{self.name} with size={self.sizing} sizes from the account as it evolves, "
                "which the fast path does not model: use --engine event (the fast path sizes "
                "equity, fraction:F and units:N)"
            )
        if self.vector_all_equity and instruments > 1:
            return (
                f"{self.name} with size={self.sizing} on several instruments runs on the event "
                "path only: give --param size=units:N or use --engine event"
            )
        return None
