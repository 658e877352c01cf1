"""Usage rows looked up by the token that sent them and their time: the per-token rate limit
of usage writes and the metrics of one token.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_plugin_hub_usage_reporter_created_at", "plugin_hub_usage", ["reporter", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_plugin_hub_usage_reporter_created_at", table_name="plugin_hub_usage")
