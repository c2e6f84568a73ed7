"""One exception tree for all of NEO.

Every message says what was wrong and how to fix it. Faults worth retrying (a network hiccup, an
exchange that is briefly down or rate-limiting) derive from :class:`RetryableError`; everything else
is fatal for the operation that raised it, and retrying unchanged would fail the same way::

    NeoError
     ├── ConfigError                      bad settings, flags or parameters
     ├── DataError
     │    ├── DataFormatError             unreadable file, unknown columns, empty input
     │    ├── DataValidationError         data that breaks a rule and cannot be quarantined
     │    ├── DataConflictError           an ingest would change bars another source stored
     │    └── DataNotFoundError           nothing stored for the requested selection
     ├── StoreError                       the historical store cannot read or write
     ├── PersistenceError                 the durable state database cannot be used
     │    └── RecordNotFoundError         no stored row with the requested id
     ├── FeatureError                     a feature spec that cannot be built
     ├── ModelError
     │    ├── ModelNotFoundError
     │    └── FeatureSpecMismatchError    a saved model meets a different feature pipeline
     ├── StrategyError                    unknown strategy, bad parameters
     ├── SessionError                     a trading session that cannot start or resume
     │    └── ReconcileError              state that does not agree with the broker's
     ├── OrderError
     │    ├── InvalidOrderError           an order that can never be valid
     │    ├── InvalidOrderTransitionError a state change the order state machine forbids
     │    └── OverfillError               fills adding up to more than the order's quantity
     ├── RiskError
     │    └── KillSwitchEngagedError      new exposure refused until an explicit reset
     ├── ExchangeError                    a venue refused or failed (fatal)
     │    ├── ExchangeAuthError           keys missing, wrong or without permission
     │    ├── OrderRefusedError           the venue rejected an order (never retried)
     │    ├── ExchangeOrderNotFoundError  the venue does not know an order (see strikes)
     │    └── RetryBudgetExhaustedError   retryable faults went on past the retry budget
     └── RetryableError
          ├── NetworkError
          │    └── RequestTimeoutError    no answer: the request may have reached the venue
          ├── ExchangeUnavailableError    5xx, maintenance
          └── RateLimitError              429
               └── ExchangeBanError       418: banned for a while (honour Retry-After)
"""

from __future__ import annotations


class NeoError(Exception):
    """Base of every error NEO raises on purpose; the CLI prints its message as one line."""

    exit_code: int = 1


class ConfigError(NeoError):
    """Settings, flags or parameters that cannot be used as given."""

    exit_code = 2


class DataError(NeoError):
    """Market data that cannot be used."""


class DataFormatError(DataError):
    """A file that cannot be read as market data: unreadable, unknown columns or empty."""


class DataValidationError(DataError):
    """Data that breaks a validation rule where quarantining the rows is not possible."""


class DataConflictError(DataError):
    """An ingest would change bars that another source stored (``--replace`` allows it)."""


class DataNotFoundError(DataError):
    """Nothing is stored for the requested venue, symbol, timeframe or range."""


class StoreError(NeoError):
    """The historical store could not read or write."""


class PersistenceError(NeoError):
    """The durable state database (orders, fills, sessions, keys, jobs) cannot be opened, read
    or written, or holds something inconsistent."""


class RecordNotFoundError(PersistenceError):
    """No stored session, order, job or API key has the requested id."""


class FeatureError(NeoError):
    """A feature specification that cannot be built or computed."""


class ModelError(NeoError):
    """A model that cannot be trained, saved, loaded or used."""


class ModelNotFoundError(ModelError):
    """No model with the requested id is in the registry."""


class FeatureSpecMismatchError(ModelError):
    """A saved model was trained on a different feature pipeline than the one offered."""


class StrategyError(NeoError):
    """An unknown strategy or parameters it cannot accept."""


class OrderError(NeoError):
    """An order-related failure."""


class InvalidOrderError(OrderError):
    """An order whose fields can never make a valid order (e.g. a limit order without a price)."""


class InvalidOrderTransitionError(OrderError):
    """A status change that the order state machine forbids (e.g. filled → cancelled)."""


class OverfillError(OrderError):
    """A fill would take an order's filled quantity above the quantity ordered: refused, since
    booking it would invent a position the exchange never gave."""


class RiskError(NeoError):
    """A failure inside the risk layer."""


class KillSwitchEngagedError(RiskError):
    """The kill switch is engaged: only cancels and reducing orders pass until a reset."""


class ExchangeError(NeoError):
    """A venue refused a request for a reason that retrying will not change."""


class ExchangeAuthError(ExchangeError):
    """API keys are missing, wrong or lack a permission the call needs."""

    exit_code = 2


class OrderRefusedError(ExchangeError):
    """The venue rejected an order (invalid, insufficient funds): retrying it unchanged fails
    the same way, so it is reported as ``OrderRejected`` and never sent again."""


class ExchangeOrderNotFoundError(ExchangeError):
    """The venue does not know an order; an adapter counts strikes before calling it lost."""


class RetryBudgetExhaustedError(ExchangeError):
    """A call kept failing with retryable faults until its retry budget was spent."""


class RetryableError(NeoError):
    """A transient fault: the same call may succeed later."""


class NetworkError(RetryableError):
    """The network failed between NEO and a venue or server."""


class RequestTimeoutError(NetworkError):
    """No answer in time: the request may or may not have reached the venue (an order sent so
    is *unknown* until queried by its client order id)."""


class ExchangeUnavailableError(RetryableError):
    """The venue is down or in maintenance."""


class RateLimitError(RetryableError):
    """The venue asked NEO to slow down."""


class ExchangeBanError(RateLimitError):
    """The venue banned NEO's address for a while (HTTP 418): wait at least Retry-After."""


class SessionError(NeoError):
    """A trading session cannot start or resume as asked (its journal, its flags)."""


class SessionBusyError(SessionError):
    """The session is running already (its journal's lock is held), here or elsewhere."""


class ReconcileError(SessionError):
    """At a restart the journal and the broker (or a replay) disagree, or the broker could not
    say: the session refuses to trade rather than guess."""
