"""Where tasks run: in this process, on a local process pool, or on Ray.

Every backend does the same three things — submit a task, hand back finished ones (result or
error), cancel what is left — so retrying, progress and writing results live once, in
:mod:`neo.sweeps.runner`, and the backends give identical rows for the same tasks.

Market data travels once per worker, never with each task: the pool's workers read the Parquet
store themselves (and keep the bars for their next task); Ray gets the bars with one
``ray.put`` and every task receives the same object-store reference (zero-copy numpy arrays).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from neo.domain.errors import ConfigError
from neo.logs import get_logger
from neo.sweeps.task import Bars, StoreData, SweepJob, Task, run_task

log = get_logger("sweeps")

TaskFn = Callable[[SweepJob, Any, Task], list[dict[str, Any]]]
BACKENDS = ("auto", "ray", "pool", "serial")
TEST_OBJECT_STORE_BYTES = 100 * 1024 * 1024
DEFAULT_OBJECT_STORE_BYTES = 512 * 1024 * 1024
"""Ray's object store when NEO starts Ray itself: the bars are put there once; capped so a
local sweep does not reserve 30 % of the machine's memory (Ray's default)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished task: its rows, or the error that stopped it (one line), and the CPU
    seconds the worker spent on it."""

    rows: list[dict[str, Any]] | None
    error: str | None = None
    cpu_seconds: float = 0.0


def measured(
    fn: TaskFn, job: SweepJob, data: Any, task: Task
) -> tuple[list[dict[str, Any]], float]:
    """``fn``'s rows and the worker's CPU seconds for them (what a busy machine cannot
    inflate, unlike wall time)."""
    started = time.process_time()
    rows = fn(job, data, task)
    return rows, time.process_time() - started


class Backend(Protocol):
    name: str
    workers: int

    def submit(self, task: Task) -> Any: ...

    def finished(self, pending: Iterable[Any]) -> list[tuple[Any, Outcome]]: ...

    def cancel(self, pending: Iterable[Any]) -> None: ...

    def close(self) -> None: ...


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SerialBackend:
    """Tasks run in this process, one per :meth:`finished` call (tests, debugging)."""

    name = "serial"
    workers = 1

    def __init__(self, job: SweepJob, data: Bars, task_fn: TaskFn = run_task) -> None:
        self._job, self._data, self._fn = job, data, task_fn
        self._queue: dict[int, Task] = {}
        self._next = 0

    def submit(self, task: Task) -> Any:
        self._next += 1
        self._queue[self._next] = task
        return self._next

    def finished(self, pending: Iterable[Any]) -> list[tuple[Any, Outcome]]:
        handle = min(pending)
        task = self._queue.pop(handle)
        try:
            rows, cpu = measured(self._fn, self._job, self._data, task)
        except Exception as exc:
            return [(handle, Outcome(None, _describe(exc)))]
        return [(handle, Outcome(rows, cpu_seconds=cpu))]

    def cancel(self, pending: Iterable[Any]) -> None:
        for handle in pending:
            self._queue.pop(handle, None)

    def close(self) -> None:
        self._queue.clear()


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the driver, which stops the sweep and keeps what finished."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


PRELOAD = ("neo.sweeps.task", "neo.execution.fastpath", "neo.engine.backtest")


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers forked from a server that has imported NEO once (``forkserver``): they start in
    milliseconds, not seconds, without forking this process's threads (DuckDB, Arrow) as a
    plain ``fork`` would; ``spawn`` where there is no forkserver."""
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


class PoolBackend:
    """A local process pool; each worker reads the bars from the store once."""

    name = "pool"

    def __init__(
        self, job: SweepJob, data: StoreData, workers: int, task_fn: TaskFn = run_task
    ) -> None:
        self.workers = workers
        self._job, self._data, self._fn = job, data, task_fn
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=_worker_context(), initializer=_ignore_interrupts
        )

    def submit(self, task: Task) -> Any:
        return self._pool.submit(measured, self._fn, self._job, self._data, task)

    def finished(self, pending: Iterable[Any]) -> list[tuple[Any, Outcome]]:
        done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        return [(future, _outcome_of(future)) for future in done]

    def cancel(self, pending: Iterable[Any]) -> None:
        for future in pending:
            future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _outcome_of(future: Future[tuple[list[dict[str, Any]], float]]) -> Outcome:
    try:
        rows, cpu = future.result()
    except Exception as exc:  # the task's own error, or a worker that died
        return Outcome(None, _describe(exc))
    return Outcome(rows, cpu_seconds=cpu)


class RayBackend:
    """Tasks as Ray remote functions; the bars are put in the object store once.

    Connects to ``address`` (a running cluster: ``ray://host:10001`` or ``auto``) or starts a
    local Ray with ``workers`` CPUs, no dashboard and a capped object store. When Ray is
    already initialised (a test session, a notebook), that instance is used and left running.
    """

    name = "ray"

    def __init__(
        self,
        job: SweepJob,
        data: Bars,
        workers: int,
        *,
        address: str | None = None,
        object_store_bytes: int = DEFAULT_OBJECT_STORE_BYTES,
        task_fn: TaskFn = run_task,
    ) -> None:
        ray = import_ray()
        self._ray = ray
        self._owned = False
        if not ray.is_initialized():
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            options: dict[str, Any] = {"log_to_driver": False}
            if address is None:  # a local Ray of our own: sized, capped, no dashboard
                options.update(
                    num_cpus=workers,
                    object_store_memory=object_store_bytes,
                    include_dashboard=False,
                )
            else:  # an existing cluster brings its own resources
                options["address"] = address
            ray.init(**options)
            self._owned = True
        self.workers = workers if address is None else int(ray.cluster_resources().get("CPU", 1))
        self._job = job
        self._data_ref = ray.put(dict(data))  # once: every task gets the same reference
        self._fn = task_fn
        self._remote = ray.remote(num_cpus=1, max_retries=0)(measured)

    def submit(self, task: Task) -> Any:
        return self._remote.remote(self._fn, self._job, self._data_ref, task)

    def finished(self, pending: Iterable[Any]) -> list[tuple[Any, Outcome]]:
        ready, _ = self._ray.wait(list(pending), num_returns=1)
        out = []
        for ref in ready:
            try:
                rows, cpu = self._ray.get(ref)
            except Exception as exc:  # RayTaskError wraps the task's own exception
                cause = getattr(exc, "cause", None)
                out.append((ref, Outcome(None, _describe(cause or exc))))
            else:
                out.append((ref, Outcome(rows, cpu_seconds=cpu)))
        return out

    def cancel(self, pending: Iterable[Any]) -> None:
        for ref in pending:
            self._ray.cancel(ref, force=False)

    def close(self) -> None:
        del self._data_ref
        if self._owned:
            self._ray.shutdown()


def ray_available() -> bool:
    try:
        import_ray()
    except ConfigError:
        return False
    return True


def import_ray() -> Any:
    """Ray, imported without its side effect on this process's logging: importing it installs
    a log-record factory that stamps ``_ray_timestamp_ns`` on every record, which NEO's log
    lines would then show; NEO's own factory is put back."""
    factory = logging.getLogRecordFactory()
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "Ray is not installed: pip install 'neo-trading[distributed]', or use --backend pool"
        ) from None
    finally:
        logging.setLogRecordFactory(factory)
    return ray


def resolve_backend(name: str, address: str | None) -> str:
    """``auto`` is Ray when it is installed (or an ``--address`` is given), else the pool."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown --backend {name!r}: use {', '.join(BACKENDS)}")
    if address is not None and name in ("pool", "serial"):
        raise ConfigError(f"--address is a Ray cluster: drop it or use --backend ray, not {name}")
    if name != "auto":
        return name
    return "ray" if address is not None or ray_available() else "pool"
