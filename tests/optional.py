"""Optional test dependencies: skipped on a developer's machine without them, a failure in CI.

The reference libraries the parity tests compare against (backtesting.py, bokeh-sampledata)
are in the ``dev`` extra, so CI always has them; a test that silently skipped there would
leave NEO unchecked against its references. CI is recognised by the ``CI`` environment
variable (set by CI services and by ``.ci/run``).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(module: str) -> ModuleType:
    """Import ``module``; when it is missing skip the test, or fail it when running in CI."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = f"{module} is not installed ({exc}); install the dev extra: pip install -e '.[dev]'"
        if in_ci():
            pytest.fail(f"{hint} (CI must run this test, not skip it)", pytrace=False)
        pytest.skip(hint, allow_module_level=True)
