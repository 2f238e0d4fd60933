"""Matching keys stored with the public rows (and their staging mirrors): computed once in transform,
read by candidate scoring instead of re-normalising every candidate

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:34:16.573823
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contact_info", sa.Column("website_host", sa.Text(), nullable=True))
    op.add_column("listings", sa.Column("name_key", sa.Text(), nullable=True))
    op.add_column("locations", sa.Column("address_key", sa.Text(), nullable=True))
    op.add_column("locations", sa.Column("house_number", sa.Text(), nullable=True))
    op.add_column("locations", sa.Column("city_key", sa.Text(), nullable=True))
    op.add_column("contact_info", sa.Column("website_host", sa.Text(), nullable=True), schema="staging")
    op.add_column("listings", sa.Column("name_key", sa.Text(), nullable=True), schema="staging")
    op.add_column("locations", sa.Column("address_key", sa.Text(), nullable=True), schema="staging")
    op.add_column("locations", sa.Column("house_number", sa.Text(), nullable=True), schema="staging")
    op.add_column("locations", sa.Column("city_key", sa.Text(), nullable=True), schema="staging")


def downgrade() -> None:
    op.drop_column("locations", "city_key", schema="staging")
    op.drop_column("locations", "house_number", schema="staging")
    op.drop_column("locations", "address_key", schema="staging")
    op.drop_column("listings", "name_key", schema="staging")
    op.drop_column("contact_info", "website_host", schema="staging")
    op.drop_column("locations", "city_key")
    op.drop_column("locations", "house_number")
    op.drop_column("locations", "address_key")
    op.drop_column("listings", "name_key")
    op.drop_column("contact_info", "website_host")
