"""API keys and research jobs on both backends."""

from __future__ import annotations

import pytest

from neo.domain.errors import ConfigError, PersistenceError, RecordNotFoundError
from neo.persistence import Database, scope_allows
from neo.persistence.models import ApiKeyRow


def test_key_is_shown_once_and_stored_only_hashed(db: Database) -> None:
    created = db.keys.create(["trade", "read", "trade"], label="  ci   bot ")
    key = created.key
    assert key.startswith(f"neo_{created.record.id}_")
    assert created.record.scopes == ("trade", "read")
    assert created.record.label == "ci bot"
    secret = key.split("_", 2)[2]
    with db.reading() as session:
        row = session.get(ApiKeyRow, created.record.id)
        assert row is not None
        stored = (row.hash, row.prefix, row.label, str(row.scopes))
    assert all(secret not in value for value in stored)
    assert stored[0].startswith("sha256$")
    listed = db.keys.list()
    assert [k.id for k in listed] == [created.record.id]
    assert "hash" not in type(listed[0]).__slots__


def test_verify_accepts_only_the_exact_unrevoked_key(db: Database) -> None:
    created = db.keys.create(["read"])
    key = created.key
    verified = db.keys.verify(key)
    assert verified is not None and verified.id == created.record.id
    assert db.keys.get(created.record.id).last_used_at is not None  # type: ignore[union-attr]
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    for bad in (tampered, key + "x", "", "neo_", "Bearer " + key, f"neo_{'0' * 12}_{'a' * 43}"):
        assert db.keys.verify(bad) is None, bad
    other = db.keys.create(["admin"])
    swapped = f"neo_{created.record.id}_{other.key.split('_', 2)[2]}"
    assert db.keys.verify(swapped) is None  # another key's secret under this id
    assert db.keys.count_active() == 2
    revoked = db.keys.revoke(created.record.id)
    assert revoked.revoked_at is not None
    assert db.keys.verify(key) is None
    assert db.keys.revoke(created.record.id).revoked_at == revoked.revoked_at  # idempotent
    assert db.keys.count_active() == 1
    assert [k.id for k in db.keys.list(include_revoked=False)] == [other.record.id]
    with pytest.raises(RecordNotFoundError, match="neo keys list"):
        db.keys.revoke("nope")


def test_scopes_are_checked_and_ordered(db: Database) -> None:
    with pytest.raises(ConfigError, match="unknown scope 'root'"):
        db.keys.create(["root"])
    with pytest.raises(ConfigError, match="at least one scope"):
        db.keys.create([])
    assert scope_allows(["trade"], "read") and scope_allows(["admin"], "trade")
    assert not scope_allows(["read"], "trade") and not scope_allows(["trade"], "admin")
    assert not scope_allows([], "read")


def test_job_lifecycle(db: Database) -> None:
    first = db.jobs.create("backtest", {"strategy": "sma_cross", "symbols": ["BTC/USDT"]})
    second = db.jobs.create("train", {"model": "lgbm"})
    assert first.status == "queued" and first.request["symbols"] == ["BTC/USDT"]
    claimed = db.jobs.claim(kind="backtest")
    assert claimed is not None and claimed.id == first.id and claimed.status == "running"
    assert claimed.started_at is not None
    assert db.jobs.claim(first.id) is None  # already running: nobody else gets it
    done = db.jobs.finish(first.id, {"sharpe": 1.25})
    assert (done.status, done.result) == ("done", {"sharpe": 1.25})
    with pytest.raises(PersistenceError, match="already ended"):
        db.jobs.fail(first.id, "late")
    with pytest.raises(PersistenceError, match="never started"):
        db.jobs.finish(second.id, {})
    failed = db.jobs.fail(second.id, "bad\nparams")
    assert (failed.status, failed.error) == ("failed", "bad params")
    assert [j.id for j in db.jobs.list()] == [second.id, first.id]
    assert [j.id for j in db.jobs.list(status="done")] == [first.id]
    assert [j.id for j in db.jobs.list(kind="train")] == [second.id]
    assert db.jobs.claim() is None
    assert db.jobs.require(first.id) == db.jobs.get(first.id)
    with pytest.raises(RecordNotFoundError):
        db.jobs.require("nope")
    with pytest.raises(ConfigError, match="unknown job kind"):
        db.jobs.create("sweep", {})


def test_running_jobs_of_a_dead_worker_are_failed(db: Database) -> None:
    job = db.jobs.create("train", {})
    db.jobs.claim(job.id)
    assert db.jobs.fail_running() == 1
    record = db.jobs.require(job.id)
    assert record.status == "failed" and "worker stopped" in (record.error or "")
