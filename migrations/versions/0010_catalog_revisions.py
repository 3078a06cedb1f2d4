"""Editors' revisions of catalog services (staff console): the full record as JSON, who, role, when, comment.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_revisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("restored_from", sa.Integer(), nullable=True),
    )
    op.create_index("ix_catalog_revisions_service", "catalog_revisions", ["service_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_catalog_revisions_service", table_name="catalog_revisions")
    op.drop_table("catalog_revisions")
