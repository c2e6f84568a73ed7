"""Strategy lookup: what ``--strategy`` and ``neo strategies list`` read.

A strategy is named in one of four ways:

* a shipped name (``sma_cross``): source ``builtin``;
* ``path/to/file.py:ClassName``: the user's file, loaded because the user named it (``file``);
* ``package.module:ClassName``: an importable module (``module``);
* the name of an installed plugin: an entry point in the group ``neo.strategies`` whose value
  is ``module:ClassName`` (``plugin``).

Loading checks the contract (a :class:`~neo.strategies.base.Strategy` subclass that defines
``on_bar``) and turns any failure (syntax error, import error, exception at import) into one
:class:`~neo.domain.errors.StrategyError` line naming the file and line.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from neo.domain.errors import ConfigError, StrategyError
from neo.strategies.base import Strategy, StrategyInfo
from neo.strategies.hybrid import Hybrid
from neo.strategies.moving_average import EmaCross, SmaCross
from neo.strategies.rsi_reversion import RsiReversion

if TYPE_CHECKING:
    from neo.settings import NeoSettings

ENTRY_POINT_GROUP = "neo.strategies"
_BUILTIN: tuple[type[Strategy], ...] = (SmaCross, EmaCross, RsiReversion, Hybrid)
_FILES: dict[tuple[str, float], ModuleType] = {}


@dataclass(frozen=True, slots=True)
class Found:
    """A strategy class and where it came from."""

    cls: type[Strategy]
    source: str
    origin: str

    def info(self) -> StrategyInfo:
        return self.cls.info(self.source, self.origin)


def strategy_classes() -> dict[str, type[Strategy]]:
    """Every shipped strategy by name (a fresh dict: callers may add their own)."""
    return {cls.name: cls for cls in _BUILTIN}


def plugins() -> list[EntryPoint]:
    """Installed plugins: entry points of the group ``neo.strategies``."""
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def find_strategy(spec: str) -> Found:
    """The strategy class ``spec`` names (see the module docstring)."""
    spec = spec.strip()
    target, sep, attribute = spec.rpartition(":")
    if sep and _looks_like_file(target):
        return Found(
            check_class(_attribute(load_file(target), attribute, target), spec), "file", spec
        )
    if sep and target:
        module = _import_module(target)
        return Found(check_class(_attribute(module, attribute, target), spec), "module", spec)
    builtin = strategy_classes()
    if spec in builtin:
        cls = builtin[spec]
        return Found(cls, "builtin", f"{cls.__module__}:{cls.__qualname__}")
    for point in plugins():
        if point.name == spec:
            return Found(check_class(_load_plugin(point), spec), "plugin", point.value)
    names = [*builtin, *(p.name for p in plugins())]
    raise StrategyError(
        f"unknown strategy {spec!r}: choose one of {', '.join(names)} (see `neo strategies "
        "list`), or name your own as path/to/file.py:ClassName or package.module:ClassName"
    )


def list_strategies(extra: Iterable[str] = ()) -> list[StrategyInfo]:
    """Shipped strategies, installed plugins (a broken one is listed with its error) and the
    ones ``extra`` names (``file.py:Class``, ``module:Class``)."""
    infos = [cls.info() for cls in _BUILTIN]
    for point in plugins():
        try:
            infos.append(check_class(_load_plugin(point), point.name).info("plugin", point.value))
        except StrategyError as exc:
            infos.append(
                StrategyInfo(point.name, "?", f"cannot load: {exc}", {}, "plugin", point.value)
            )
    infos.extend(find_strategy(spec).info() for spec in extra)
    return infos


def create_strategy(
    name: str, params: Mapping[str, Any] | None = None, *, size: Any = None
) -> Strategy:
    """A strategy instance with validated parameters (strings are coerced: ``fast="12"``).

    ``name`` is any spec :func:`find_strategy` reads; ``size`` is the sizing to use when
    ``params`` has none (e.g. from the ``[sizing]`` table).
    """
    values = dict(params or {})
    if size is not None:
        values.setdefault("size", size)
    return find_strategy(name).cls(**values)


def served_strategy(settings: NeoSettings, spec: str | None) -> None:
    """Refuse a strategy a request to the service may not name. Shipped strategies, installed
    plugins and the operator's own (``[strategies] load``, or the default) may be run; a file
    or module a request names may not, since loading it runs its code in the service for
    whoever holds a ``trade`` key (the CLI, run by the machine's user, loads any)."""
    if spec is None or ":" not in spec:
        return  # a name: shipped or a plugin (find_strategy says which, or that it is neither)
    allowed = {s.strip() for s in (*settings.strategies.load, settings.strategies.default)}
    if spec.strip() not in allowed:
        raise ConfigError(
            f"strategy {spec!r} names a file or module: the service runs shipped strategies, "
            "installed plugins and those listed in [strategies] load"
        )


def configured_strategy(
    settings: NeoSettings, spec: str | None, pairs: list[str] | None
) -> Strategy:
    """The strategy a command runs: ``--strategy`` (default ``[strategies] default``) with its
    ``--param`` pairs; ``size`` from ``--param``, else the ``[sizing]`` table, else the
    strategy's own default."""
    found = find_strategy(spec or settings.strategies.default)
    values: dict[str, Any] = dict(parse_params(pairs))
    configured = settings.sizing.for_strategy(found.cls.name)
    if configured is not None:
        values.setdefault("size", configured)
    return found.cls(**values)


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """``["fast=10", "size=none"]`` → ``{"fast": "10", "size": "none"}``."""
    result: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise StrategyError(f"--param {pair!r}: write it as name=value, e.g. --param fast=10")
        result[key.strip()] = value.strip()
    return result


def check_class(obj: Any, spec: str) -> type[Strategy]:
    """``obj`` if it is a complete strategy class; else a StrategyError saying what is missing."""
    if not (inspect.isclass(obj) and issubclass(obj, Strategy)):
        raise StrategyError(
            f"{spec}: {getattr(obj, '__name__', obj)!r} is not a strategy; derive it from "
            "neo.strategies.Strategy"
        )
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
        raise StrategyError(
            f"{spec}: {obj.__name__} does not define {missing}; every strategy defines "
            "on_bar(self, ctx) (a RuleStrategy defines rule(self, now, before))"
        )
    return obj


def load_file(path_text: str) -> ModuleType:
    """Execute the user's strategy file as a module (once per path and modification time)."""
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise StrategyError(f"strategy file {path_text} does not exist")
    path = path.resolve()
    key = (str(path), path.stat().st_mtime)
    if key in _FILES:
        return _FILES[key]
    name = "neo_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise StrategyError(f"strategy file {path_text} cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look classes up by module name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise StrategyError(_load_error(f"strategy file {path_text}", path, exc)) from None
    _FILES[key] = module
    return module


def _looks_like_file(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _attribute(module: ModuleType, attribute: str, where: str) -> Any:
    if not attribute:
        raise StrategyError(f"{where}: name the class after the colon, e.g. {where}:MyStrategy")
    try:
        return getattr(module, attribute)
    except AttributeError:
        found = [
            key
            for key, value in vars(module).items()
            if inspect.isclass(value) and issubclass(value, Strategy) and value is not Strategy
        ]
        raise StrategyError(
            f"{where} has no class {attribute!r}"
            + (f"; its strategies: {', '.join(found)}" if found else "")
        ) from None


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise StrategyError(
                f"no module named {name!r}: check the spelling and that it is importable "
                "(installed, or on PYTHONPATH); a file is named as path/to/file.py:ClassName"
            ) from None
        raise StrategyError(_load_error(f"module {name}", None, exc)) from None
    except Exception as exc:
        raise StrategyError(_load_error(f"module {name}", None, exc)) from None


def _load_plugin(point: EntryPoint) -> Any:
    try:
        return point.load()
    except Exception as exc:
        raise StrategyError(
            _load_error(f"plugin {point.name} ({point.value})", None, exc)
        ) from None


def _load_error(what: str, path: Path | None, exc: BaseException) -> str:
    """One line: what failed to load, where (file and line) and why."""
    where = ""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{exc.filename}, line {exc.lineno}: "
        reason = f"SyntaxError: {exc.msg}"
    else:
        frames: list[traceback.FrameSummary] = list(traceback.extract_tb(exc.__traceback__))
        if path is not None:
            frames = [f for f in frames if Path(f.filename) == path] or frames
        else:  # the user's code, not importlib's machinery
            frames = [f for f in frames if "importlib" not in f.filename] or frames
        if frames:
            where = f"{frames[-1].filename}, line {frames[-1].lineno}: "
        first = str(exc).splitlines()[0] if str(exc) else ""
        reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return f"cannot load {what}: {where}{reason}"
