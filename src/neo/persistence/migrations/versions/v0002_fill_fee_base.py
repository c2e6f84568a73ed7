"""fills.fee_base: the part of a fill's fee the venue took in the base asset

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 04:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows written before this column existed paid their fee in quote as far as NEO knew: 0.
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fee_base", sa.Double(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_column("fee_base")
