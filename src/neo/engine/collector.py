"""Garbage collection between steps, not inside a bar's cycle (paper and live sessions).

CPython collects when allocations pass a threshold, wherever that happens: often in the middle
of a bar's cycle, between the websocket message and the order request. A young collection costs
a fraction of a millisecond, an older one more, and a full one scans every object the process
holds — ccxt's markets, SQLAlchemy, numpy, the strategy's buffers: tens of milliseconds.

:class:`StepCollector` moves that work to where it costs nothing that matters, after a step's
orders are sent:

* at the start of trading (after the replay and the reconciliation) a collection of the young
  generations, then ``gc.freeze()``: everything alive then (imports, clients, the restored
  session) is moved to the permanent generation, never scanned again. No full collection first:
  it costs a tenth of a second in a large process (a test run starts hundreds of sessions), and
  what old garbage it would have found is only kept until the session ends (unfrozen then);
* the automatic thresholds are raised (``THRESHOLDS``), so an allocation-triggered collection
  only happens in a step that allocates unusually much (the safety net);
* after each step, :meth:`after_step` runs the collections the default thresholds would have
  run by then (young when 700 objects were allocated, middle every 10 young, old every 10
  middle), so garbage is still collected at the usual rate;
* at the end the thresholds and the frozen heap are restored.

Settings are process-wide; sessions that overlap in one process (tests, the service) share
them: the first start applies them, the last stop restores them.
"""

from __future__ import annotations

import gc
import threading

THRESHOLDS = (50_000, 50, 50)
"""Automatic thresholds while a session trades (the defaults are 700, 10, 10)."""
YOUNG, MIDDLE, OLD = 700, 10, 10
"""When :meth:`StepCollector.after_step` collects each generation (CPython's defaults)."""

_lock = threading.Lock()
_active = 0
_saved: tuple[int, int, int] | None = None


class StepCollector:
    """GC tuned for a trading session (see the module docstring)."""

    def __init__(self) -> None:
        self.started = False
        self.collections = [0, 0, 0]
        """Collections run by :meth:`after_step`, per generation."""

    def start(self) -> None:
        """Collect, freeze the heap and raise the thresholds (once per session)."""
        global _active, _saved
        if self.started:
            return
        self.started = True
        with _lock:
            _active += 1
            if _active == 1:
                _saved = gc.get_threshold()
            gc.collect(1)
            gc.freeze()
            gc.set_threshold(*THRESHOLDS)

    def after_step(self) -> None:
        """Run the collections due by the default thresholds (the step's orders are sent)."""
        if not self.started:
            return
        young, middle, old = gc.get_count()
        if old >= OLD:
            generation = 2
        elif middle >= MIDDLE:
            generation = 1
        elif young >= YOUNG:
            generation = 0
        else:
            return
        gc.collect(generation)
        self.collections[generation] += 1

    def stop(self) -> None:
        """Restore the thresholds and unfreeze once the last session stops."""
        global _active, _saved
        if not self.started:
            return
        self.started = False
        with _lock:
            _active -= 1
            if _active == 0:
                if _saved is not None:
                    gc.set_threshold(*_saved)
                    _saved = None
                gc.unfreeze()
