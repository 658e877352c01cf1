"""Records for the success metrics: how each stage got its capability (``resolution`` of a
usage row), and what a publisher says its synthesis cost, beside (not inside) the hub's own
test report.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("plugin_hub_test_reports") as batch:
        batch.add_column(sa.Column("publisher_synthesis_json", sa.Text(), nullable=True))
    with op.batch_alter_table("plugin_hub_usage") as batch:
        batch.add_column(sa.Column("resolution", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plugin_hub_usage") as batch:
        batch.drop_column("resolution")
    with op.batch_alter_table("plugin_hub_test_reports") as batch:
        batch.drop_column("publisher_synthesis_json")
