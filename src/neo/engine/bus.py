"""The in-process message bus: components publish events, subscribers react.

Handlers are looked up by the event's exact type (plus any subscribed to :class:`Event`, which
see everything), so a publish with nobody listening is one dict lookup. Publishers on the hot
path (the trading loop's per-bar events) go further: they :meth:`~MessageBus.watch` the bus, are
told whenever the set of subscribers changes, and build an event only when someone listens, so a
backtest nobody observes pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Callable

from neo.domain.events import Event

Handler = Callable[[Event], None]


class MessageBus:
    __slots__ = ("_any", "_handlers", "_watchers")

    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[Handler]] = {}
        self._any: list[Handler] = []
        self._watchers: list[Callable[[], None]] = []

    def subscribe(self, event_type: type[Event], handler: Handler) -> None:
        """Call ``handler`` for every published event of ``event_type`` (Event = all)."""
        if event_type is Event:
            self._any.append(handler)
        else:
            self._handlers.setdefault(event_type, []).append(handler)
        self._changed()

    def unsubscribe(self, event_type: type[Event], handler: Handler) -> None:
        handlers = self._any if event_type is Event else self._handlers.get(event_type, [])
        if handler in handlers:
            handlers.remove(handler)
            self._changed()

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every change of subscribers (see the module docstring)."""
        self._watchers.append(callback)

    def unwatch(self, callback: Callable[[], None]) -> None:
        if callback in self._watchers:
            self._watchers.remove(callback)

    def _changed(self) -> None:
        for callback in list(self._watchers):
            callback()

    def has_subscribers(self, event_type: type[Event]) -> bool:
        return bool(self._any or self._handlers.get(event_type))

    def publish(self, event: Event) -> None:
        handlers = self._handlers.get(type(event))
        if handlers:
            for handler in handlers:
                handler(event)
        if self._any:
            for handler in self._any:
                handler(event)
