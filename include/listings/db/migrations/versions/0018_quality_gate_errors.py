"""The quality-gate stops of promotions, for the Health page.

A promotion that a quality gate stops (a dbt test of its change logs: dbt/tests/promotion) records the
gate's rows as the job's errors, `error_type = 'quality_gate'`. The Health page lists those of its window:
a partial index on them alone, so that it never reads the errors of large, bad files.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 22:35:00
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "create index ix_job_errors_quality_gate on pipeline.job_errors (created_at)"
        " where error_type = 'quality_gate'"
    )


def downgrade() -> None:
    op.execute("drop index pipeline.ix_job_errors_quality_gate")
