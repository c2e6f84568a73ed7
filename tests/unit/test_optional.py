"""A missing reference library skips its tests on a laptop and fails them in CI."""

from __future__ import annotations

import pytest

from tests.optional import require

MISSING = "neo_no_such_module_for_tests"


def test_a_present_module_is_returned() -> None:
    assert require("json").dumps([1]) == "[1]"


def test_missing_module_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="dev extra"):
        require(MISSING)


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_missing_module_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI must run this test"):
        require(MISSING)
