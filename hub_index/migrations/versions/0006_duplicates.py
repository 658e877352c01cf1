"""Duplicates: pairs of plugins of which each passed every gate of the other's contract
(``plugin-hub find-duplicates``); and lineage: the plugin whose logic a near match's adapter
carries.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plugin_hub_duplicates",
        sa.Column("first_id", sa.String(), nullable=False),
        sa.Column("second_id", sa.String(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("first_id", "second_id"),
    )
    op.create_table(
        "plugin_hub_lineage",
        sa.Column("plugin_id", sa.String(), nullable=False),
        sa.Column("adapted_from_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("plugin_id"),
    )
    op.create_index(
        "ix_plugin_hub_lineage_adapted_from_id", "plugin_hub_lineage", ["adapted_from_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_plugin_hub_lineage_adapted_from_id", table_name="plugin_hub_lineage")
    op.drop_table("plugin_hub_lineage")
    op.drop_table("plugin_hub_duplicates")
