"""Reports of contract violations: what of its stage contract a plugin's answer broke (the
run-time check of a usage row), and which token sent each usage row.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("plugin_hub_usage") as batch:
        batch.add_column(sa.Column("violation", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reporter", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plugin_hub_usage") as batch:
        batch.drop_column("reporter")
        batch.drop_column("violation")
