"""Match models and labelled pairs: `pipeline.match_models` keeps every fitted Fellegi–Sunter model
(its parameters as JSON, the pair counts it was estimated on, how it was fitted: `em` unsupervised on the
candidate pairs, or `labels`, and its figures on the labelled pairs); the match step uses the latest one.
`pipeline.match_labels` keeps a labelled pair for every review decision (accept, choose, new, dismiss) and
manual merge, force-match and unmerge: both sides' values as matching saw them (so that a later merge of
the listings does not change what was judged), the ids they came from, the label and who decided when.
Labels check a fitted model (`listings matching report`) and can re-fit it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-12 10:00:00
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table pipeline.match_models (
            id bigserial primary key,
            fitted_at timestamp without time zone not null default now(),
            source text not null,
            params jsonb not null,
            candidate_pairs integer not null default 0,
            random_pairs integer not null default 0,
            labelled_pairs integer not null default 0,
            metrics jsonb not null default '{}'::jsonb,
            job_id bigint references pipeline.jobs (id) on delete set null,
            constraint ck_match_models_source check (source in ('em', 'labels', 'run'))
        )
        """
    )
    op.execute(
        """
        create table pipeline.match_labels (
            id bigserial primary key,
            left_record jsonb not null,
            right_record jsonb not null,
            left_listing_id bigint,
            right_listing_id bigint,
            listing_info_id bigint,
            review_item_id bigint,
            label boolean not null,
            source text not null,
            decided_by text,
            decided_at timestamp without time zone not null default now(),
            constraint ck_match_labels_source
                check (source in ('accept', 'choose', 'new', 'dismiss', 'merge', 'force_match', 'unmerge'))
        )
        """
    )
    op.execute("create index ix_match_labels_review_item_id on pipeline.match_labels (review_item_id)")


def downgrade() -> None:
    op.execute("drop table pipeline.match_labels")
    op.execute("drop table pipeline.match_models")
