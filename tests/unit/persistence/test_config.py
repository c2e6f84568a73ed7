"""Where the state database is: defaults, URLs, masking, and bad settings as one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neo.domain.errors import ConfigError
from neo.persistence import DatabaseConfig, database_url, mask_url
from neo.persistence.config import resolve_url, with_driver
from neo.persistence.sessions import CLIENT_ID_PATTERN, make_client_order_id, session_tag
from neo.settings import load_settings


def test_default_is_sqlite_in_the_data_directory(isolated_neo_env: Path) -> None:
    settings = load_settings()
    assert settings.database.url is None
    expected = f"sqlite:///{isolated_neo_env.resolve() / 'neo.db'}"
    assert database_url(settings) == expected
    assert database_url() == expected
    assert resolve_url(DatabaseConfig(), Path("/srv/neo")) == "sqlite:////srv/neo/neo.db"


def test_url_from_env_and_driver_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO_DATABASE__URL", "postgresql://neo:pw@db:5432/neo")
    settings = load_settings()
    assert database_url(settings) == "postgresql+psycopg://neo:pw@db:5432/neo"
    assert with_driver("postgres://a@b/c") == "postgresql+psycopg://a@b/c"
    assert with_driver("sqlite:///x.db") == "sqlite:///x.db"
    assert database_url(DatabaseConfig(url="sqlite:///tmp/x.db")) == "sqlite:///tmp/x.db"


def test_unsupported_url_is_a_clear_error_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEO_DATABASE__URL", "mysql://root:hunter2@db/neo")
    with pytest.raises(ConfigError, match="unsupported database url") as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match="sqlite:///PATH"):
        database_url("oracle://a:b@c/d")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql+psycopg://neo:s3cr:et@h:5/db?x=1", "postgresql+psycopg://neo:***@h:5/db?x=1"),
        ("postgresql+psycopg://neo@h/db", "postgresql+psycopg://neo@h/db"),
        ("sqlite:////tmp/neo.db", "sqlite:////tmp/neo.db"),
        ("not a url", "not a url"),
        ("postgresql://u:p%40ss@h/db", "postgresql://u:***@h/db"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_busy_timeout_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="greater than or equal"):
        DatabaseConfig(busy_timeout_ms=-1)


@given(st.text(min_size=1, max_size=64))
def test_any_session_id_gives_binance_safe_client_ids(session_id: str) -> None:
    tag = session_tag(session_id)
    for seq in (1, 10**12 - 1):
        cid = make_client_order_id(tag, seq)
        assert CLIENT_ID_PATTERN.fullmatch(cid) and len(cid) <= 36


def test_client_id_numbers_are_bounded() -> None:
    with pytest.raises(ConfigError):
        make_client_order_id("abc", 0)
    with pytest.raises(ConfigError):
        make_client_order_id("abc", 10**12)
    with pytest.raises(ConfigError):
        make_client_order_id("a/b", 1)
    assert session_tag("paper1") == "paper1"
    assert session_tag("x" * 21) != "x" * 21
