"""Job liveness: a job whose process died (killed worker, stopped `listings run`) no longer stays
`in_progress` forever. `pipeline.jobs` gets the heartbeat its steps keep fresh while they run
(`heartbeat_at`), and the host and pid of the process that last ran one of its steps. The reaper
(`listings.pipeline.liveness.reap_stale_jobs`, `listings jobs reap`, and every new job of the DMO) marks
such a job `stale` with the reason and drops its staging rows when it was never promoted.

`ix_jobs_in_progress` (partial) finds the running jobs without reading every job.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("heartbeat_at", sa.DateTime(), nullable=True), schema="pipeline")
    op.add_column("jobs", sa.Column("host", sa.Text(), nullable=True), schema="pipeline")
    op.add_column("jobs", sa.Column("pid", sa.Integer(), nullable=True), schema="pipeline")
    op.create_index(
        "ix_jobs_in_progress",
        "jobs",
        ["dmo_id"],
        schema="pipeline",
        postgresql_where=sa.text("status = 'in_progress'"),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_in_progress", table_name="jobs", schema="pipeline")
    op.drop_column("jobs", "pid", schema="pipeline")
    op.drop_column("jobs", "host", schema="pipeline")
    op.drop_column("jobs", "heartbeat_at", schema="pipeline")
