"""What the repositories return: immutable snapshots of stored rows, detached from any
database session, so callers can keep and pass them around freely."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import msgspec

from neo.domain.enums import LiquiditySide, Side
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId, OrderId, TradeId
from neo.domain.order import Order
from neo.domain.position import Position
from neo.persistence.models import (
    AccountRow,
    ApiKeyRow,
    BalanceRow,
    FillRow,
    JobRow,
    OrderRow,
    PositionRow,
    SessionRow,
)


def now_ns() -> int:
    """Wall-clock time in integer nanoseconds UTC (when a row was written)."""
    return time.time_ns()


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    tag: str
    kind: str
    account: str
    strategy: str
    params: dict[str, Any]
    status: str
    started_at: int
    updated_at: int
    next_client_seq: int
    checkpoint: dict[str, Any] | None

    @classmethod
    def of(cls, row: SessionRow) -> SessionRecord:
        return cls(
            id=row.id,
            tag=row.tag,
            kind=row.kind,
            account=row.account,
            strategy=row.strategy,
            params=dict(row.params),
            status=row.status,
            started_at=row.started_at,
            updated_at=row.updated_at,
            next_client_seq=row.next_client_seq,
            checkpoint=None if row.checkpoint is None else dict(row.checkpoint),
        )


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """A journaled order. ``outcome`` is what NEO knows of its fate at the venue:
    ``intent`` (written, maybe never sent), ``sent`` (the request went out), ``unknown`` (no
    answer: resolve by client id), ``acknowledged`` (the venue has it), ``final`` (terminal
    status known) or ``lost`` (not found after several strikes)."""

    client_order_id: str
    session_id: str | None
    account: str
    venue: str
    symbol: str
    side: str
    type: str
    quantity: float
    limit_price: float | None
    stop_price: float | None
    status: str
    outcome: str
    exchange_order_id: str | None
    engine_order_id: str | None
    filled_quantity: float
    average_fill_price: float
    reason: str
    strikes: int
    created_ns: int
    updated_ns: int
    payload: dict[str, Any] | None

    @classmethod
    def of(cls, row: OrderRow) -> OrderRecord:
        return cls(
            client_order_id=row.client_order_id,
            session_id=row.session_id,
            account=row.account,
            venue=row.venue,
            symbol=row.symbol,
            side=row.side,
            type=row.type,
            quantity=row.quantity,
            limit_price=row.limit_price,
            stop_price=row.stop_price,
            status=row.status,
            outcome=row.outcome,
            exchange_order_id=row.exchange_order_id,
            engine_order_id=row.engine_order_id,
            filled_quantity=row.filled_quantity,
            average_fill_price=row.average_fill_price,
            reason=row.reason,
            strikes=row.strikes,
            created_ns=row.created_ns,
            updated_ns=row.updated_ns,
            payload=None if row.payload is None else dict(row.payload),
        )

    @property
    def instrument(self) -> InstrumentId:
        return InstrumentId(self.venue, self.symbol)

    def to_order(self) -> Order:
        """The domain order as last journaled, with the client order id as its id (fields the
        table has no column for, such as time in force, come from the intent's payload)."""
        stored = (self.payload or {}).get("order") or {}
        data = {key: stored[key] for key in _ORDER_EXTRAS if key in stored}
        data.update(
            id=self.client_order_id,
            instrument={"venue": self.venue, "symbol": self.symbol},
            side=self.side,
            quantity=self.quantity,
            type=self.type,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            status=self.status,
            filled_quantity=self.filled_quantity,
            average_fill_price=self.average_fill_price,
            created_ns=self.created_ns,
            updated_ns=self.updated_ns,
            reason=self.reason,
        )
        return msgspec.convert(data, Order)


_ORDER_EXTRAS = (
    "time_in_force",
    "expire_ns",
    "reduce_only",
    "parent_id",
    "oco_group",
    "tag",
    "equity_fraction",
)


@dataclass(frozen=True, slots=True)
class FillRecord:
    venue: str
    trade_id: str
    client_order_id: str | None
    session_id: str | None
    account: str
    symbol: str
    side: str
    quantity: float
    price: float
    fee: float
    fee_currency: str
    liquidity: str
    ts_ns: int
    source: str
    recorded_ns: int
    fee_base: float = 0.0

    @classmethod
    def of(cls, row: FillRow) -> FillRecord:
        return cls(
            venue=row.venue,
            trade_id=row.trade_id,
            client_order_id=row.client_order_id,
            session_id=row.session_id,
            account=row.account,
            symbol=row.symbol,
            side=row.side,
            quantity=row.quantity,
            price=row.price,
            fee=row.fee,
            fee_currency=row.fee_currency,
            liquidity=row.liquidity,
            ts_ns=row.ts_ns,
            source=row.source,
            recorded_ns=row.recorded_ns,
            fee_base=row.fee_base,
        )

    def to_fill(self) -> Fill:
        """The domain fill (its order id is the client order id)."""
        return Fill(
            order_id=OrderId(self.client_order_id or ""),
            trade_id=TradeId(self.trade_id),
            instrument=InstrumentId(self.venue, self.symbol),
            side=Side(self.side),
            quantity=self.quantity,
            price=self.price,
            fee=self.fee,
            ts=self.ts_ns,
            liquidity=LiquiditySide(self.liquidity),
            fee_base=self.fee_base,
        )


@dataclass(frozen=True, slots=True)
class PositionRecord:
    account: str
    venue: str
    symbol: str
    quantity: float
    average_price: float
    realized_pnl: float
    fees: float
    updated_ns: int

    @classmethod
    def of(cls, row: PositionRow) -> PositionRecord:
        return cls(
            account=row.account,
            venue=row.venue,
            symbol=row.symbol,
            quantity=row.quantity,
            average_price=row.average_price,
            realized_pnl=row.realized_pnl,
            fees=row.fees,
            updated_ns=row.updated_ns,
        )

    def to_position(self) -> Position:
        return Position(
            instrument=InstrumentId(self.venue, self.symbol),
            quantity=self.quantity,
            average_price=self.average_price,
            realized_pnl=self.realized_pnl,
            fees=self.fees,
            ts=self.updated_ns,
        )


@dataclass(frozen=True, slots=True)
class BalanceRecord:
    account: str
    currency: str
    free: float
    used: float
    total: float
    updated_ns: int

    @classmethod
    def of(cls, row: BalanceRow) -> BalanceRecord:
        return cls(row.account, row.currency, row.free, row.used, row.total, row.updated_ns)


@dataclass(frozen=True, slots=True)
class AccountRecord:
    account: str
    peak_equity: float
    basis: dict[str, Any]
    updated_ns: int

    @classmethod
    def of(cls, row: AccountRow) -> AccountRecord:
        return cls(row.account, row.peak_equity, dict(row.basis), row.updated_ns)


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key as listed: never its secret nor its hash."""

    id: str
    prefix: str
    scopes: tuple[str, ...]
    label: str
    created_at: int
    revoked_at: int | None
    last_used_at: int | None

    @classmethod
    def of(cls, row: ApiKeyRow) -> ApiKeyRecord:
        return cls(
            id=row.id,
            prefix=row.prefix,
            scopes=tuple(row.scopes),
            label=row.label,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """What :meth:`KeyStore.create` returns: the plaintext ``key``, shown once, never stored."""

    key: str
    record: ApiKeyRecord


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    kind: str
    status: str
    request: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_at: int
    started_at: int | None
    finished_at: int | None

    @classmethod
    def of(cls, row: JobRow) -> JobRecord:
        return cls(
            id=row.id,
            kind=row.kind,
            status=row.status,
            request=dict(row.request),
            result=None if row.result is None else dict(row.result),
            error=row.error,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )
