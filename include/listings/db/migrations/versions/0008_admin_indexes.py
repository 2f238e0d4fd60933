"""Indexes for the admin pages' filters, on a catalogue of 1M listings:

- `public.listing_info (category, listing_id)`: the listings search's category filter (a semi-join that
  otherwise scans every listing_info row);
- `public.listings (listing_status)`: counts by status and the rare statuses (archived, merged);
- `pipeline.images (status, id)`: the image page's status filter across DMOs, newest first.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 18:00:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_listing_info_category_listing_id", "public.listing_info", "category, listing_id"),
    ("ix_listings_listing_status", "public.listings", "listing_status"),
    ("ix_images_status_id", "pipeline.images", "status, id"),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.execute(f"create index {name} on {table} ({columns})")


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.execute(f"drop index {table.split('.')[0]}.{name}")
