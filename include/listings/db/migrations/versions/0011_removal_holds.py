"""Removal holds: a full snapshot with no valid record, or with fewer than `removal.min_ratio` x
the records of the DMO's last good full snapshot, does not soft-remove anything. `pipeline.removal_holds`
keeps one row per held job: why (the records, the baseline job and its records, the ratio), the
listing_info the run did not see (their absence was not counted), and what an admin decided: `released`
(the sweep then ran: `records_deleted`) or `dismissed` (nothing removed), by whom and when.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 10:00:00
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table pipeline.removal_holds (
            job_id bigint primary key references pipeline.jobs (id) on delete cascade,
            dmo_id integer not null,
            data_domain text not null,
            status text not null default 'held',
            reason text not null,
            records integer not null,
            baseline_job_id bigint,
            baseline_records integer,
            min_ratio numeric(4, 3),
            listing_info_ids bigint[] not null default '{}',
            created_at timestamp without time zone default now(),
            resolved_at timestamp without time zone,
            resolved_by text,
            records_deleted integer,
            constraint status check (status in ('held', 'released', 'dismissed'))
        )
        """
    )
    op.execute("create index ix_removal_holds_dmo_id_status on pipeline.removal_holds (dmo_id, status)")


def downgrade() -> None:
    op.execute("drop table pipeline.removal_holds")
