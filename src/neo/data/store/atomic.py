"""Atomic file replacement (write beside the target, fsync, rename over it) and writer locks.

``os.replace`` is atomic on POSIX and Windows, so readers see either the old file or the new
one, never half of either; a crash mid-write leaves only a stray ``.tmp`` file, which the next
write overwrites.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from neo.domain.errors import StoreError


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``target`` atomically."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        if tmp.exists():
            with tmp.open("rb") as handle:
                os.fsync(handle.fileno())
        tmp.replace(target)
    except OSError as exc:
        raise StoreError(
            f"cannot write {target}: {exc}; check the path and free disk space"
        ) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def dataset_lock(directory: Path) -> Iterator[None]:
    """Serialise writers of one dataset: read-merge-replace must not interleave, or one
    writer's rows would be lost. An exclusive ``flock`` on ``directory/.lock``; each call opens
    its own descriptor, so it excludes other threads as well as other processes (POSIX; on
    other systems writers are not serialised)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle = (directory / ".lock").open("a")
    except OSError as exc:
        raise StoreError(f"cannot lock {directory}: {exc}; check the path") from exc
    with handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
