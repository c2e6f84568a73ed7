"""Atomic file replacement (write beside the target, fsync, rename over it) and writer locks.

``os.replace`` is atomic on POSIX and Windows, so readers see either the old file or the new
one, never half of either; a crash mid-write leaves only a stray ``.tmp`` file, which the next
write overwrites.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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


_SERIAL = itertools.count()


def write_atomic(target: Path, data: bytes, *, sync_directory: bool = False) -> None:
    """Write ``data`` to ``target`` as :func:`atomic_path` does (beside it, fsync, rename over
    it), for a writer holding the bytes already: one descriptor does the write and the fsync,
    and the temporary name is ``.<name>.<pid>-<serial>.tmp`` (unique among live writers
    without a random draw). ``target``'s directory must exist. ``sync_directory`` also
    fsyncs the directory after the rename, so the new name itself survives a power cut (what
    makes a manifest swap, and the files it names, durable when this returns)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{next(_SERIAL)}.tmp")
    renamed = False
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(target)
        renamed = True
        if sync_directory:
            fsync_directory(target.parent)
    except OSError as exc:
        raise StoreError(
            f"cannot write {target}: {exc}; check the path and free disk space"
        ) from exc
    finally:
        if not renamed:  # whatever stopped the write, no temporary file stays behind
            with suppress(OSError):
                tmp.unlink()


def fsync_directory(directory: Path) -> None:
    """Make the names created, renamed or removed in ``directory`` durable (POSIX; a no-op
    where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def is_temp_file(path: Path) -> bool:
    """A temporary file of :func:`atomic_path` (``.<name>.<uuid>.tmp``)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def remove_temp_files(directory: Path) -> int:
    """Remove the temporary files a killed writer left in ``directory``; the number removed.

    Call it only while holding ``directory``'s :func:`dataset_lock`: every writer of the
    directory holds that lock while its temporary file exists, so a temporary file seen under
    the lock belongs to a writer that died, never to a live one.
    """
    removed = 0
    for path in directory.glob(".*.tmp") if directory.is_dir() else ():
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:  # pragma: no cover - removed by another sweeper meanwhile
            continue
    return removed


def sweep_if_idle(directory: Path) -> int:
    """Remove a dead writer's temporary files from ``directory`` if no writer holds its lock
    now (a non-blocking try; a busy directory is left for its writer, who sweeps it too)."""
    lock = directory / ".lock"
    if not lock.exists():
        return remove_temp_files(directory) if any(directory.glob(".*.tmp")) else 0
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: only writers sweep
        return 0
    try:
        handle = lock.open("a")
    except OSError:  # pragma: no cover - unreadable lock file: leave the directory alone
        return 0
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0
        try:
            return remove_temp_files(directory)
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def remove_stale_files(directory: Path, pattern: str, older_than_s: float) -> int:
    """Remove files matching ``pattern`` not modified for ``older_than_s`` seconds: the
    temporary files of writers without a lock (a live writer renames its file within
    milliseconds, so an old one is a crash's leftover)."""
    import time

    removed, now = 0, time.time()
    for path in directory.glob(pattern) if directory.is_dir() else ():
        try:
            if now - path.stat().st_mtime > older_than_s:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # pragma: no cover - gone meanwhile
            continue
    return removed
