"""Source categories and hours text on listing_info, merged listings, match decisions in
staging, API usage counts (geocoding), postal-code blocking index for matching.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 11:51:59.076610
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_usage",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("calls", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("cache_hits", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("budget_refusals", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("api_usage_pkey")),
        sa.UniqueConstraint(
            "provider",
            "day",
            "job_id",
            name="uq_api_usage_provider_day_job_id",
            postgresql_nulls_not_distinct=True,
        ),
        schema="pipeline",
    )
    op.add_column("listing_info", sa.Column("source_category", sa.String(), nullable=True))
    op.add_column("listing_info", sa.Column("opening_hours_text", sa.String(), nullable=True))
    op.add_column("listings", sa.Column("merged_into_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_listings_merged_into_id_listings"), "listings", "listings", ["merged_into_id"], ["id"]
    )
    op.drop_constraint(op.f("ck_listings_listing_status"), "listings", type_="check")
    op.create_check_constraint(
        op.f("ck_listings_listing_status"),
        "listings",
        "listing_status in ('active', 'archived', 'invalid', 'merged')",
    )
    op.create_index(
        "ix_locations_postal_key",
        "locations",
        [sa.literal_column("upper(regexp_replace(zip, '[^A-Za-z0-9]', '', 'g'))")],
        unique=False,
    )
    op.add_column("listing_info", sa.Column("source_category", sa.String(), nullable=True), schema="staging")
    op.add_column(
        "listing_info", sa.Column("opening_hours_text", sa.String(), nullable=True), schema="staging"
    )
    op.add_column(
        "listing_info",
        sa.Column("certainty", sa.Numeric(precision=5, scale=4), nullable=True),
        schema="staging",
    )
    op.add_column("listing_info", sa.Column("match_reason", sa.Text(), nullable=True), schema="staging")
    op.add_column(
        "listing_info",
        sa.Column("pending_review", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="staging",
    )


def downgrade() -> None:
    op.drop_column("listing_info", "pending_review", schema="staging")
    op.drop_column("listing_info", "match_reason", schema="staging")
    op.drop_column("listing_info", "certainty", schema="staging")
    op.drop_column("listing_info", "opening_hours_text", schema="staging")
    op.drop_column("listing_info", "source_category", schema="staging")
    op.drop_index("ix_locations_postal_key", table_name="locations")
    op.drop_constraint(op.f("fk_listings_merged_into_id_listings"), "listings", type_="foreignkey")
    op.execute("update listings set listing_status = 'archived' where listing_status = 'merged'")
    op.drop_constraint(op.f("ck_listings_listing_status"), "listings", type_="check")
    op.create_check_constraint(
        op.f("ck_listings_listing_status"), "listings", "listing_status in ('active', 'archived', 'invalid')"
    )
    op.drop_column("listings", "merged_into_id")
    op.drop_column("listing_info", "opening_hours_text")
    op.drop_column("listing_info", "source_category")
    op.drop_table("api_usage", schema="pipeline")
