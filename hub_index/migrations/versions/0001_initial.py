"""Initial schema: plugins, usage, test reports, revocations, tokens and claims.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _bigint_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create every hub table with its constraints and indexes."""
    op.create_table(
        "plugin_hub_plugins",
        sa.Column("plugin_id", sa.String(), primary_key=True),
        sa.Column("capability", sa.String(), nullable=False),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("dist_name", sa.String(), nullable=False),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("trust_tier", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("signer_identity", sa.String(), nullable=False),
        sa.Column("signature_bundle", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.UniqueConstraint("dist_name", "version", name="uq_plugin_hub_plugins_dist_version"),
    )
    op.create_index("ix_plugin_hub_plugins_capability", "plugin_hub_plugins", ["capability"])

    op.create_table(
        "plugin_hub_usage",
        sa.Column("id", _bigint_id(), primary_key=True, autoincrement=True),
        sa.Column("plugin_id", sa.String(), nullable=True),
        sa.Column("capability", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("error_type", sa.String(), nullable=True),
        sa.Column("time_to_capability_ms", sa.Float(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
    )
    op.create_index("ix_plugin_hub_usage_plugin_id", "plugin_hub_usage", ["plugin_id"])
    op.create_index("ix_plugin_hub_usage_capability", "plugin_hub_usage", ["capability"])

    op.create_table(
        "plugin_hub_test_reports",
        sa.Column("id", _bigint_id(), primary_key=True, autoincrement=True),
        sa.Column("plugin_id", sa.String(), nullable=False),
        sa.Column("pass_rate", sa.Float(), nullable=False),
        sa.Column("report_json", sa.Text(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plugin_id"],
            ["plugin_hub_plugins.plugin_id"],
            name="fk_plugin_hub_test_reports_plugin_id",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_plugin_hub_test_reports_plugin_id", "plugin_hub_test_reports", ["plugin_id"]
    )

    op.create_table(
        "plugin_hub_revocations",
        sa.Column("dist_name", sa.String(), primary_key=True),
        sa.Column("version", sa.String(), primary_key=True),
        sa.Column("plugin_id", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("revoked_by", sa.String(), nullable=False),
        sa.Column("revoked_at", _timestamp(), nullable=False),
    )

    op.create_table(
        "plugin_hub_tokens",
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.UniqueConstraint("token_sha256", name="uq_plugin_hub_tokens_token_sha256"),
    )

    op.create_table(
        "plugin_hub_claims",
        sa.Column("capability", sa.String(), primary_key=True),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("expires_at", _timestamp(), nullable=False),
    )


def downgrade() -> None:
    """Drop every hub table."""
    op.drop_table("plugin_hub_claims")
    op.drop_table("plugin_hub_tokens")
    op.drop_table("plugin_hub_revocations")
    op.drop_index("ix_plugin_hub_test_reports_plugin_id", table_name="plugin_hub_test_reports")
    op.drop_table("plugin_hub_test_reports")
    op.drop_index("ix_plugin_hub_usage_capability", table_name="plugin_hub_usage")
    op.drop_index("ix_plugin_hub_usage_plugin_id", table_name="plugin_hub_usage")
    op.drop_table("plugin_hub_usage")
    op.drop_index("ix_plugin_hub_plugins_capability", table_name="plugin_hub_plugins")
    op.drop_table("plugin_hub_plugins")
