"""Social channels (issue 10): per-message facts for channels that post once per message, the public link
of each delivered post, and the channels chosen per post.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.add_column(sa.Column("meta", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("public_url", sa.String(500), nullable=True))
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("channels", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_column("channels")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("public_url")
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_column("meta")
