"""Job counts by matching outcome: `pipeline.job_results` gets `records_matched` and
`records_review` beside `records_new`. From this revision on, a promotion writes, for the records it promoted:

- `records_matched`: joined a listing that existed before the job (same source id, same record hash of this
  or another DMO, an automatic match), or a listing this job created for an earlier record of the same job;
- `records_review`: became a hidden listing waiting in the review queue;
- `records_new`: became a new listing (before, `records_new` counted new listing_info, whatever their
  listing: a record that joined another DMO's listing was "new").

matched + review + new = the records promoted. A job promoted before this revision keeps the counts it had:
its `records_matched` and `records_review` stay null (not counted), and its `records_new` keeps the old
meaning.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-12 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job_results", sa.Column("records_matched", sa.Integer(), nullable=True), schema="pipeline")
    op.add_column("job_results", sa.Column("records_review", sa.Integer(), nullable=True), schema="pipeline")


def downgrade() -> None:
    op.drop_column("job_results", "records_review", schema="pipeline")
    op.drop_column("job_results", "records_matched", schema="pipeline")
