"""The candidate search's address block within the region.

The same street address ("100 main st") recurs in many towns of a country-wide catalogue; the address block
now looks within the record's region, plus the listings without one. One index serves both lookups: the
address key alone (a record without a region) and with the region (`coalesce(region_key, '') = any(...)`).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 06:40:00
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "create index ix_listing_match_address_region on pipeline.listing_match"
        " (address_key, (coalesce(region_key, '')))"
    )
    op.execute("drop index pipeline.ix_listing_match_address_key")


def downgrade() -> None:
    op.execute("create index ix_listing_match_address_key on pipeline.listing_match (address_key)")
    op.execute("drop index pipeline.ix_listing_match_address_region")
