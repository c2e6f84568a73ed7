"""The tables of NEO's durable state, as SQLAlchemy 2 typed models.

The same models serve SQLite and PostgreSQL. Times are integer nanoseconds UTC (the engine's
convention; ``*_at`` and ``*_ns`` columns alike), money and quantities are IEEE doubles (what
the engine computes with; they round-trip exactly), and enumerations are short strings guarded
by CHECK constraints so neither backend can hold a value the code does not know. The Alembic
migrations in ``migrations/versions`` create exactly these tables; a test compares the two.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SESSION_KINDS = ("paper", "live", "backtest")
SESSION_STATUSES = ("running", "stopped", "paused", "failed")
ORDER_OUTCOMES = ("intent", "sent", "unknown", "acknowledged", "final", "lost")
FILL_SOURCES = ("ws", "rest", "sim", "replay")
JOB_KINDS = ("backtest", "train")
JOB_STATUSES = ("queued", "running", "done", "failed")
SIDES = ("buy", "sell")


def _one_of(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[str]: JSON,
        float: Double,
        int: BigInteger,
    }


class SessionRow(Base):
    """A paper, live or backtest session: its identity, status and resume checkpoint."""

    __tablename__ = "sessions"
    __table_args__ = (
        _one_of("kind", SESSION_KINDS, "kind"),
        _one_of("status", SESSION_STATUSES, "status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tag: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(128), index=True)
    strategy: Mapped[str] = mapped_column(String(128))
    params: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[int]
    updated_at: Mapped[int]
    next_client_seq: Mapped[int] = mapped_column(default=1)
    checkpoint: Mapped[dict[str, Any] | None]


class OrderRow(Base):
    """One order NEO meant to send, keyed by its client order id, with what became of it."""

    __tablename__ = "orders"
    __table_args__ = (
        _one_of("outcome", ORDER_OUTCOMES, "outcome"),
        _one_of("side", SIDES, "side"),
        Index("ix_orders_account_outcome", "account", "outcome"),
    )

    client_order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("sessions.id"), index=True
    )
    account: Mapped[str] = mapped_column(String(128))
    venue: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[float]
    limit_price: Mapped[float | None]
    stop_price: Mapped[float | None]
    status: Mapped[str] = mapped_column(String(24))
    outcome: Mapped[str] = mapped_column(String(16))
    exchange_order_id: Mapped[str | None] = mapped_column(String(128), index=True)
    engine_order_id: Mapped[str | None] = mapped_column(String(64))
    filled_quantity: Mapped[float] = mapped_column(default=0.0)
    average_fill_price: Mapped[float] = mapped_column(default=0.0)
    reason: Mapped[str] = mapped_column(Text, default="")
    strikes: Mapped[int] = mapped_column(Integer, default=0)
    created_ns: Mapped[int]
    updated_ns: Mapped[int]
    payload: Mapped[dict[str, Any] | None]


class FillRow(Base):
    """One execution, unique per venue and trade id whichever stream reported it."""

    __tablename__ = "fills"
    __table_args__ = (
        _one_of("source", FILL_SOURCES, "source"),
        _one_of("side", SIDES, "side"),
        Index("ix_fills_ts_ns", "ts_ns"),
    )

    venue: Mapped[str] = mapped_column(String(64), primary_key=True)
    trade_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    client_order_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("orders.client_order_id"), index=True
    )
    session_id: Mapped[str | None] = mapped_column(String(64), index=True)
    account: Mapped[str] = mapped_column(String(128), index=True)
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[float]
    price: Mapped[float]
    fee: Mapped[float] = mapped_column(default=0.0)
    fee_currency: Mapped[str] = mapped_column(String(16), default="")
    fee_base: Mapped[float] = mapped_column(default=0.0, server_default="0")
    """The part of ``fee`` the venue took in the base asset, in base units."""
    liquidity: Mapped[str] = mapped_column(String(8), default="taker")
    ts_ns: Mapped[int]
    source: Mapped[str] = mapped_column(String(8))
    recorded_ns: Mapped[int]


class PositionRow(Base):
    __tablename__ = "positions"

    account: Mapped[str] = mapped_column(String(128), primary_key=True)
    venue: Mapped[str] = mapped_column(String(64), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[float]
    average_price: Mapped[float]
    realized_pnl: Mapped[float]
    fees: Mapped[float] = mapped_column(default=0.0)
    updated_ns: Mapped[int]


class BalanceRow(Base):
    __tablename__ = "balances"

    account: Mapped[str] = mapped_column(String(128), primary_key=True)
    currency: Mapped[str] = mapped_column(String(16), primary_key=True)
    free: Mapped[float]
    used: Mapped[float]
    total: Mapped[float]
    updated_ns: Mapped[int]


class AccountRow(Base):
    """An account's drawdown basis (peak equity and friends), kept across restarts."""

    __tablename__ = "accounts"

    account: Mapped[str] = mapped_column(String(128), primary_key=True)
    peak_equity: Mapped[float]
    basis: Mapped[dict[str, Any]]
    updated_ns: Mapped[int]


class ApiKeyRow(Base):
    """An API key: only a salted hash of its secret is stored, never the key."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(48))
    hash: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]]
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[int]
    revoked_at: Mapped[int | None]
    last_used_at: Mapped[int | None]


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        _one_of("kind", JOB_KINDS, "kind"),
        _one_of("status", JOB_STATUSES, "status"),
        Index("ix_jobs_status_created_at", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    request: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int]
    started_at: Mapped[int | None]
    finished_at: Mapped[int | None]
