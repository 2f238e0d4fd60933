"""Indexes for the admin pages' sorting and the soft-deleted list, and the matching actions' log, on a
catalogue of 1M listings:

- `public.listings (name, id)`: the listings page's default order (name, then id) and its reverse, as an
  index walk that stops after one page. A filter matching many listings (a category of 200k, a DMO holding
  them all) no longer sorts every match: measured on 1M listings, 600-750 ms -> under 10 ms for the page.
  A selective filter (a name search, a city) is still planned as an index lookup then a sort of its few
  matches: the planner's row estimate picks between the two.
- `public.locations (state)`: the region filter, when the region holds few listings.
- the bridge viewer's filters: `pipeline.bridge_source_listing (match_method, id)` (a rare method, newest
  first), `(certainty_score, id) where certainty_score < 1` (the doubtful rows), and
  `public.listing_info (external_source_id)` (a source id searched across DMOs): 190-320 ms -> under 10 ms.
- `pipeline.listing_edits.action` also takes `move` (a record moved to another listing: force-match, a
  review's decision, unmerge) and `merge` (a listing left empty forwards to another).
- `public.listing_info (status_changed_at desc, id desc) where removed or hidden`: the soft-deleted page's
  count and newest-first page read only the few soft-deleted rows, not all listing_info.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 19:20:00
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


ACTIONS = "'edit', 'unlock', 'accept_source', 'keep_manual', 'hide', 'show', 'archive', 'restore'"


def _actions(values: str) -> None:
    op.execute("alter table pipeline.listing_edits drop constraint action")
    op.execute(f"alter table pipeline.listing_edits add constraint action check (action in ({values}))")


def upgrade() -> None:
    _actions(ACTIONS + ", 'move', 'merge'")
    op.execute("create index ix_listings_name_id on public.listings (name, id)")
    op.execute("create index ix_locations_state on public.locations (state)")
    op.execute(
        "create index ix_bridge_source_listing_method_id on pipeline.bridge_source_listing (match_method, id)"
    )
    op.execute(
        "create index ix_bridge_source_listing_doubtful on pipeline.bridge_source_listing (certainty_score, id)"
        " where certainty_score < 1"
    )
    op.execute("create index ix_listing_info_external_source_id on public.listing_info (external_source_id)")
    op.execute(
        "create index ix_listing_info_soft_deleted on public.listing_info"
        " (status_changed_at desc nulls last, id desc) where info_status = 'removed' or not info_visible"
    )


def downgrade() -> None:
    op.execute("delete from pipeline.listing_edits where action in ('move', 'merge')")
    _actions(ACTIONS)
    op.execute("drop index public.ix_listing_info_soft_deleted")
    op.execute("drop index public.ix_listing_info_external_source_id")
    op.execute("drop index pipeline.ix_bridge_source_listing_doubtful")
    op.execute("drop index pipeline.ix_bridge_source_listing_method_id")
    op.execute("drop index public.ix_locations_state")
    op.execute("drop index public.ix_listings_name_id")
