"""Ignoring a record error (the admin job page's "ignore a record"): `pipeline.job_errors` gets who
ignored it, when and why. An ignored error stays stored; the admin shows it struck through, leaves it out
of the CSV error log (unless asked) and of the DMO's error rate.

`ix_job_errors_job_id_ignored` (partial: only the ignored rows) lets the DMO list count a job's ignored
errors without reading every error of the job.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job_errors", sa.Column("ignored_at", sa.DateTime(), nullable=True), schema="pipeline")
    op.add_column("job_errors", sa.Column("ignored_by", sa.Text(), nullable=True), schema="pipeline")
    op.add_column("job_errors", sa.Column("ignore_reason", sa.Text(), nullable=True), schema="pipeline")
    op.create_index(
        "ix_job_errors_job_id_ignored",
        "job_errors",
        ["job_id"],
        schema="pipeline",
        postgresql_where=sa.text("ignored_at is not null"),
    )


def downgrade() -> None:
    op.drop_index("ix_job_errors_job_id_ignored", table_name="job_errors", schema="pipeline")
    op.drop_column("job_errors", "ignore_reason", schema="pipeline")
    op.drop_column("job_errors", "ignored_by", schema="pipeline")
    op.drop_column("job_errors", "ignored_at", schema="pipeline")
