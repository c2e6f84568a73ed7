"""What an account holds, kept across restarts: positions, balances, and the drawdown basis.

Each write is one upsert committed when the call returns. Positions follow the ledger (the one
average-cost rule of :meth:`neo.domain.position.Position.apply`); balances are what the venue
(or the paper ledger) reports; the account row keeps the peak equity and whatever else the kill
switch's limits are measured from, so a restart never forgets a drawdown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from neo.domain.ids import InstrumentId
from neo.domain.position import Position
from neo.persistence._util import json_object, upsert
from neo.persistence.models import AccountRow, BalanceRow, PositionRow
from neo.persistence.records import AccountRecord, BalanceRecord, PositionRecord, now_ns

if TYPE_CHECKING:
    from neo.persistence.database import Database


class PositionStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def save(self, account: str, position: Position, ts_ns: int | None = None) -> None:
        """Store ``position`` (flat ones too: a flat row says "known flat", not "unknown")."""
        values = {
            "account": account,
            "venue": position.instrument.venue,
            "symbol": position.instrument.symbol,
            "quantity": position.quantity,
            "average_price": position.average_price,
            "realized_pnl": position.realized_pnl,
            "fees": position.fees,
            "updated_ns": ts_ns if ts_ns is not None else (position.ts or now_ns()),
        }
        with self._db.transaction() as session:
            upsert(session, PositionRow, values, ("account", "venue", "symbol"))

    def get(self, account: str, instrument: InstrumentId) -> PositionRecord | None:
        with self._db.reading() as session:
            row = session.get(PositionRow, (account, instrument.venue, instrument.symbol))
            return None if row is None else PositionRecord.of(row)

    def list(self, account: str, *, include_flat: bool = True) -> list[PositionRecord]:
        query = (
            select(PositionRow)
            .where(PositionRow.account == account)
            .order_by(PositionRow.venue, PositionRow.symbol)
        )
        if not include_flat:
            query = query.where(PositionRow.quantity != 0.0)
        with self._db.reading() as session:
            return [PositionRecord.of(row) for row in session.scalars(query)]


class BalanceStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def save(
        self,
        account: str,
        currency: str,
        *,
        free: float,
        used: float = 0.0,
        total: float | None = None,
        ts_ns: int | None = None,
    ) -> None:
        values = {
            "account": account,
            "currency": currency,
            "free": free,
            "used": used,
            "total": free + used if total is None else total,
            "updated_ns": ts_ns or now_ns(),
        }
        with self._db.transaction() as session:
            upsert(session, BalanceRow, values, ("account", "currency"))

    def replace(
        self,
        account: str,
        balances: Mapping[str, tuple[float, float, float]],
        ts_ns: int | None = None,
    ) -> None:
        """Replace every balance of ``account`` at once with ``{currency: (free, used,
        total)}`` (a venue's full balance report), in one transaction."""
        stamp = ts_ns or now_ns()
        with self._db.transaction() as session:
            session.execute(delete(BalanceRow).where(BalanceRow.account == account))
            for currency, (free, used, total) in balances.items():
                session.add(
                    BalanceRow(
                        account=account,
                        currency=currency,
                        free=free,
                        used=used,
                        total=total,
                        updated_ns=stamp,
                    )
                )

    def get(self, account: str, currency: str) -> BalanceRecord | None:
        with self._db.reading() as session:
            row = session.get(BalanceRow, (account, currency))
            return None if row is None else BalanceRecord.of(row)

    def list(self, account: str) -> list[BalanceRecord]:
        query = (
            select(BalanceRow).where(BalanceRow.account == account).order_by(BalanceRow.currency)
        )
        with self._db.reading() as session:
            return [BalanceRecord.of(row) for row in session.scalars(query)]


class AccountStore:
    """The drawdown basis of each account (peak equity plus a JSON ``basis``)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def save(
        self,
        account: str,
        *,
        peak_equity: float,
        basis: Mapping[str, Any] | None = None,
        ts_ns: int | None = None,
    ) -> None:
        values = {
            "account": account,
            "peak_equity": peak_equity,
            "basis": json_object(basis, f"drawdown basis of account {account!r}"),
            "updated_ns": ts_ns or now_ns(),
        }
        with self._db.transaction() as session:
            upsert(session, AccountRow, values, ("account",))

    def raise_peak(self, account: str, equity: float, ts_ns: int | None = None) -> float:
        """Lift the stored peak to ``equity`` if higher (never lowers it); the peak after."""
        with self._db.transaction() as session:
            row = session.get(AccountRow, account, with_for_update=True)
            if row is None:
                session.add(
                    AccountRow(
                        account=account, peak_equity=equity, basis={}, updated_ns=ts_ns or now_ns()
                    )
                )
                return equity
            if equity > row.peak_equity:
                row.peak_equity = equity
                row.updated_ns = ts_ns or now_ns()
            return row.peak_equity

    def get(self, account: str) -> AccountRecord | None:
        with self._db.reading() as session:
            row = session.get(AccountRow, account)
            return None if row is None else AccountRecord.of(row)
