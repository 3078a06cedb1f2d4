"""NINA (issue 11): the warnings the poller has seen, for de-duplication across restarts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nina_seen",
        sa.Column("nina_id", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(255), nullable=False),
        sa.Column("alert_identifier", sa.String(255), nullable=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
    )
    op.create_index("ix_nina_seen_state", "nina_seen", ["state"])


def downgrade() -> None:
    op.drop_index("ix_nina_seen_state", table_name="nina_seen")
    op.drop_table("nina_seen")
