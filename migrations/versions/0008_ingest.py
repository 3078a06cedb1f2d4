"""Inbound news feeds (issue 11): the state of each configured feed and every entry seen (unique per feed
by id or link, so de-duplication survives restarts; draft entries are the console's suggestions).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feed_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("etag", sa.String(512), nullable=True),
        sa.Column("last_modified", sa.String(128), nullable=True),
        sa.Column("last_fetch_at", _TS, nullable=True),
        sa.Column("last_ok_at", _TS, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("final_url", sa.String(2000), nullable=True),
        sa.Column("first_seen_done", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "feed_entries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("feed", sa.String(64), nullable=False),
        sa.Column("entry_key", sa.String(512), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("link", sa.String(2000), nullable=True),
        sa.Column("published_at", _TS, nullable=True),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column(
            "broadcast_id", sa.Integer(), sa.ForeignKey("broadcasts.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.UniqueConstraint("feed", "entry_key", name="uq_feed_entries_feed_key"),
    )
    op.create_index("ix_feed_entries_state_created", "feed_entries", ["state", "created_at"])
    op.create_index("ix_feed_entries_topic_published", "feed_entries", ["topic", "published_at"])


def downgrade() -> None:
    op.drop_index("ix_feed_entries_topic_published", table_name="feed_entries")
    op.drop_index("ix_feed_entries_state_created", table_name="feed_entries")
    op.drop_table("feed_entries")
    op.drop_table("feed_state")
