"""The in-process message bus: components publish events, subscribers react.

Handlers are looked up by the event's exact type (plus any subscribed to :class:`Event`, which
see everything), so a publish with nobody listening is one dict lookup: cheap enough for the hot
loop.
"""

from __future__ import annotations

from collections.abc import Callable

from neo.domain.events import Event

Handler = Callable[[Event], None]


class MessageBus:
    __slots__ = ("_any", "_handlers")

    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[Handler]] = {}
        self._any: list[Handler] = []

    def subscribe(self, event_type: type[Event], handler: Handler) -> None:
        """Call ``handler`` for every published event of ``event_type`` (Event = all)."""
        if event_type is Event:
            self._any.append(handler)
        else:
            self._handlers.setdefault(event_type, []).append(handler)

    def unsubscribe(self, event_type: type[Event], handler: Handler) -> None:
        handlers = self._any if event_type is Event else self._handlers.get(event_type, [])
        if handler in handlers:
            handlers.remove(handler)

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
