"""What an exchange's answer (or silence) means for an order: the outcome policy.

Every order NEO sends moves through these outcomes, journalled before and after each call::

    intent ──▶ sent ──▶ acknowledged ──▶ final
                 │            │
                 ▼            ▼ (not found N times + a targeted query)
              unknown ──▶ lost

* A create that fails with an answer that says "no" (invalid order, insufficient funds, bad
  request, keys refused) is **final**: reported as ``OrderRejected`` and never sent again.
* A create that fails with *no* clear answer (timeout, 5xx, 429/418, a dropped connection, a
  body that is not JSON) may have reached the exchange: the order is **unknown** and is resolved
  by asking for its client order id. Found: acknowledged. Absent ``strikes_to_resend`` times
  *and* absent from a targeted query of open and closed orders: sent again with the **same**
  client order id (at most ``max_resends`` times), so the exchange itself refuses a duplicate.
  A refusal of such a re-send (a venue's "duplicate order") is not taken as a rejection: the
  order stays unknown and is queried again.
* An acknowledged order the exchange later says it does not know is **lost** only after
  ``strikes_to_lost`` answers in a row and a targeted query agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from neo.domain.errors import (
    ExchangeAuthError,
    ExchangeOrderNotFoundError,
    NeoError,
    OrderRefusedError,
)


class Outcome(StrEnum):
    """The ``orders.outcome`` column of the journal (``neo.persistence``)."""

    INTENT = "intent"
    SENT = "sent"
    UNKNOWN = "unknown"
    ACKNOWLEDGED = "acknowledged"
    FINAL = "final"
    LOST = "lost"


class CreateVerdict(StrEnum):
    REJECTED = "rejected"
    UNKNOWN = "unknown"


class NotFoundVerdict(StrEnum):
    WAIT = "wait"  # ask again later
    TARGETED = "targeted"  # enough strikes: run the targeted query now
    ABSENT = "absent"  # strikes and the targeted query agree


@dataclass(frozen=True, slots=True)
class OutcomePolicy:
    """The numbers of the outcome rules (see the module docstring)."""

    strikes_to_resend: int = 2
    strikes_to_lost: int = 3
    max_resends: int = 2
    resolve_attempts: int = 6

    def after_create_error(self, error: NeoError) -> CreateVerdict:
        """A create that raised: refused for good, or unknown (may have reached the venue)."""
        if isinstance(error, ExchangeOrderNotFoundError):
            return CreateVerdict.UNKNOWN  # a create cannot "not find" itself: no clear answer
        if isinstance(error, OrderRefusedError | ExchangeAuthError):
            return CreateVerdict.REJECTED
        return CreateVerdict.UNKNOWN

    def after_not_found(
        self, strikes: int, targeted_found: bool | None, *, sent: bool
    ) -> NotFoundVerdict:
        """``strikes`` not-found answers in a row so far; ``targeted_found`` is the targeted
        query's answer when one ran (None: not yet). ``sent`` distinguishes an unknown create
        (``strikes_to_resend``) from an acknowledged order (``strikes_to_lost``)."""
        needed = self.strikes_to_resend if sent else self.strikes_to_lost
        if strikes < needed:
            return NotFoundVerdict.WAIT
        if targeted_found is None:
            return NotFoundVerdict.TARGETED
        return NotFoundVerdict.WAIT if targeted_found else NotFoundVerdict.ABSENT

    def may_resend(self, resends: int) -> bool:
        return resends < self.max_resends
