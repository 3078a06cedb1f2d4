"""Catalog revisions of offices too: a ``kind`` column ("service", "office"), ``service_id`` → ``record_id``.

The rows written by 0010 are revisions of services: they get ``kind = 'service'``. Downgrading deletes
the office revisions (0010 has no place for them) and restores the old column and index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLE = "catalog_revisions"


def upgrade() -> None:
    op.drop_index("ix_catalog_revisions_service", table_name=TABLE)
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="service"))
        batch.alter_column(
            "service_id", new_column_name="record_id", existing_type=sa.String(64), existing_nullable=False
        )
    op.execute(sa.text(f"UPDATE {TABLE} SET kind = 'service'"))
    with op.batch_alter_table(TABLE) as batch:  # every writer names the kind from now on
        batch.alter_column("kind", server_default=None, existing_type=sa.String(16), existing_nullable=False)
    op.create_index("ix_catalog_revisions_record", TABLE, ["kind", "record_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_catalog_revisions_record", table_name=TABLE)
    op.execute(sa.text(f"DELETE FROM {TABLE} WHERE kind <> 'service'"))
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("kind")
        batch.alter_column(
            "record_id", new_column_name="service_id", existing_type=sa.String(64), existing_nullable=False
        )
    op.create_index("ix_catalog_revisions_service", TABLE, ["service_id", "id"])
