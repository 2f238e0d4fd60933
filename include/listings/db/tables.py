"""SQLAlchemy Core tables of the three schemas (`public`, `staging`, `pipeline`).

The Alembic migrations create them; a test checks that migrations and these definitions agree.
`public` starts from the seed's production tables (each once) plus the pipeline's additions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, CHAR, JSONB
from sqlalchemy.types import UserDefinedType

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "%(table_name)s_pkey",
}
# Public tables carry no schema: `public` is the default schema, which is how Alembic reflects it.
metadata = MetaData(naming_convention=NAMING)

SOURCE_TYPES = ("csv", "xls", "wordpress", "drupal", "website", "api", "esri", "here")
SCHEDULES = ("manual", "hourly", "daily", "weekly", "monthly")
JOB_STATUSES = ("queued", "in_progress", "succeeded", "partial", "failed", "stale", "deleted")


class Geography(UserDefinedType[Any]):
    """PostGIS geography(Point, 4326)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "geography(Point,4326)"


def _ts(name: str, *, default_now: bool = True, nullable: bool = True) -> Column[Any]:
    return Column(name, DateTime, server_default=func.now() if default_now else None, nullable=nullable)


def _timestamps() -> list[Column[Any]]:
    return [_ts("created_at"), _ts("updated_at")]


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} in ({', '.join(repr(v) for v in values)})"


# ------------------------------------------------------------------------------------------------
# public: the seed's production tables + additions
# ------------------------------------------------------------------------------------------------
ref_dmo_types = Table(
    "ref_dmo_types",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("name", String, nullable=False, unique=True),
)

dmos = Table(
    "dmos",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String, nullable=False),
    Column("dmo_type_id", SmallInteger, ForeignKey("ref_dmo_types.id"), nullable=False),
    Column("source_type", String, nullable=False),
    Column("country", CHAR(2), nullable=False),
    Column("state", String),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    *_timestamps(),
    CheckConstraint(_in("source_type", SOURCE_TYPES), name="source_type"),
)

locations = Table(
    "locations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("address1", String),
    Column("address2", String),
    Column("city", String),
    Column("state", String),
    Column("zip", String),
    Column("country", CHAR(2)),
    Column("lat", Numeric(10, 8)),
    Column("lng", Numeric(11, 8)),
    *_timestamps(),
    Column("geog", Geography()),
    Column("location_hash", Text),
    # matching keys, computed once in transform (listings.matching.features.build_match_record)
    Column("address_key", Text),
    Column("house_number", Text),
    Column("city_key", Text),
    Column("region_key", Text),  # the state / province code, for matching (0014)
    Index("ix_locations_geog", "geog", postgresql_using="gist"),
    # matching blocks candidates by postal code when a record has no coordinates
    Index("ix_locations_postal_key", text("upper(regexp_replace(zip, '[^A-Za-z0-9]', '', 'g'))")),
    Index("ix_locations_state", "state"),  # the admin's region filter (0010)
)

listings = Table(
    "listings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String),
    Column("google_place_id", String),
    Column("location_id", Integer, ForeignKey("locations.id")),
    *_timestamps(),
    Column("manually_modified", Boolean, server_default=text("false")),
    Column("manually_modified_at", DateTime),
    Column("manually_modified_by", Text),  # the admin's user name
    Column("listing_visible", Boolean, server_default=text("true")),
    Column("listing_status", String, nullable=False, server_default=text("'active'")),
    Column("last_job_id", BigInteger),
    Column("name_key", Text),  # matching key of the name, computed once in transform
    Column("merged_into_id", Integer, ForeignKey("listings.id")),  # set with listing_status 'merged'
    # fields an admin set by hand (name, location): imports never overwrite them (migration 0006)
    Column("locked_fields", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("status_reason", Text),  # why it was archived
    Column("status_changed_at", DateTime),
    CheckConstraint("listing_status in ('active', 'archived', 'invalid', 'merged')", name="listing_status"),
    Index("ix_listings_location_id", "location_id"),
    Index("ix_listings_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
    Index("ix_listings_listing_status", "listing_status"),  # admin counts by status (0008)
    Index("ix_listings_name_id", "name", "id"),  # admin listings page order (0010)
)

contact_info = Table(
    "contact_info",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String),
    Column("email", String),
    Column("local_phone", String),
    Column("international_phone", String),
    *_timestamps(),
    Column("website_url", String),
    Column("facebook_url", String),
    Column("instagram_url", String),
    Column("youtube_url", String),
    Column("tiktok_url", String),
    Column("twitter_url", String),
    Column("pinterest_url", String),
    Column("tripadvisor_url", String),
    Column("yelp_url", String),
    Column("contact_hash", Text),
    Column("website_host", Text),  # matching key: the website's host without "www."
)

listing_info = Table(
    "listing_info",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("listing_id", Integer, ForeignKey("listings.id"), nullable=False),
    Column("description", String),
    Column("dmo_id", Integer, ForeignKey("dmos.id"), nullable=False),
    Column("contact_info_id", Integer, ForeignKey("contact_info.id")),
    *_timestamps(),
    Column("manually_modified", Boolean, server_default=text("false")),
    Column("manually_modified_at", DateTime),
    Column("manually_modified_by", Text),
    Column("info_visible", Boolean, server_default=text("true")),
    Column("info_status", String, nullable=False, server_default=text("'active'")),
    Column("external_source_id", String),
    Column("name", String),
    Column("category", String),  # a vocabulary id (include/listings/data/categories.yaml), or null
    Column("last_seen_at", DateTime),
    Column("last_job_id", BigInteger),
    Column("content_hash", Text),
    Column("images_hash", CHAR(64)),  # the processed image list (migration 0007)
    Column("source_category", String),  # the category as the source wrote it, mapped or not
    Column("opening_hours_text", String),  # the hours as the source wrote them (parsed: opening_dates/hours)
    # fields an admin set by hand (listings.fields.LOCKABLE_INFO_FIELDS): imports never overwrite them
    Column("locked_fields", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("status_reason", Text),  # why it was removed (not seen for N days / runs, hidden by an admin)
    Column("status_changed_at", DateTime),
    CheckConstraint("info_status in ('active', 'removed', 'pending')", name="info_status"),
    Index("ix_listing_info_listing_id", "listing_id"),
    Index("ix_listing_info_dmo_id_external_source_id", "dmo_id", "external_source_id"),
    Index("ix_listing_info_external_source_id", "external_source_id"),  # admin: a source id, any DMO (0010)
    Index("ix_listing_info_contact_info_id", "contact_info_id"),
    Index("ix_listing_info_category_listing_id", "category", "listing_id"),  # admin search (0008)
    Index(  # the admin's soft-deleted list (0010)
        "ix_listing_info_soft_deleted",
        text("status_changed_at desc nulls last"),
        text("id desc"),
        postgresql_where=text("info_status = 'removed' or not info_visible"),
    ),
)

listing_images = Table(
    "listing_images",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("listing_info_id", Integer, ForeignKey("listing_info.id")),
    Column("image", String),  # the canonical stored image (the source URL when images are not processed)
    Column("rank", Integer),
    *_timestamps(),
    Column("source_url", Text),
    Column("renditions", JSONB),  # {"large.webp": url, ...}
    Column("width", Integer),
    Column("height", Integer),
    Column("phash", CHAR(16)),
    Index("ix_listing_images_listing_info_id", "listing_info_id"),
)

opening_dates = Table(
    "opening_dates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("start_date", String),
    Column("end_date", String),
    Column("listing_info_id", Integer, ForeignKey("listing_info.id")),
    *_timestamps(),
    Index("ix_opening_dates_listing_info_id", "listing_info_id"),
)

ref_days = Table(
    "ref_days",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String),
    *_timestamps(),
)

opening_hours = Table(
    "opening_hours",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("opening_date_id", Integer, ForeignKey("opening_dates.id")),
    Column("day_id", Integer, ForeignKey("ref_days.id")),
    Column("open_time", String),
    Column("close_time", String),
    *_timestamps(),
    Index("ix_opening_hours_opening_date_id", "opening_date_id"),
)

ref_attributes = Table(
    "ref_attributes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String),
    Column("description", String),
    Column("icon", String),
    *_timestamps(),
)

bridge_attributes_listings = Table(
    "bridge_attributes_listings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("attribute_id", Integer, ForeignKey("ref_attributes.id")),
    Column("listing_id", Integer, ForeignKey("listings.id")),
    *_timestamps(),
    Index("ix_bridge_attributes_listings_listing_id", "listing_id"),
)

# ------------------------------------------------------------------------------------------------
# pipeline: configs, jobs, files, results, errors, bridge, review, geocode cache
# ------------------------------------------------------------------------------------------------
configs = Table(
    "configs",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("dmo_id", Integer, ForeignKey("dmos.id"), nullable=False),
    Column("source_type", Text, nullable=False),
    Column("data_domain", Text, nullable=False),
    Column("base_url", Text),
    Column("field_mappings", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("config_params", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("schedule", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("content_hash", Text, nullable=False),
    Column("source_file", Text),
    Column("document", JSONB),  # the whole config (fields without a column: category_synonyms, removal)
    *_timestamps(),
    UniqueConstraint("dmo_id", "data_domain", name="uq_configs_dmo_id_data_domain"),
    CheckConstraint(_in("source_type", SOURCE_TYPES), name="source_type"),
    CheckConstraint(_in("schedule", SCHEDULES), name="schedule"),
    schema="pipeline",
)

config_versions = Table(
    "config_versions",
    metadata,
    Column("config_id", BigInteger, ForeignKey("pipeline.configs.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("document", JSONB, nullable=False),
    Column("changed_by", Text),
    _ts("created_at"),
    PrimaryKeyConstraint("config_id", "version", name="config_versions_pkey"),
    schema="pipeline",
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("dmo_id", Integer, ForeignKey("dmos.id"), nullable=False),
    Column("config_id", BigInteger, ForeignKey("pipeline.configs.id")),
    Column("data_domain", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("trigger", Text, nullable=False),
    Column("dag_id", Text, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("params", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    _ts("created_at"),
    Column("started_at", DateTime),
    Column("finished_at", DateTime),
    Column("promoted_at", DateTime),  # set in the promotion's own transaction: a re-run skips it
    # false for an incremental run (only what changed was fetched): it never soft-removes anything
    Column("full_snapshot", Boolean, nullable=False, server_default=text("true")),
    Column("error_summary", Text),
    # liveness (0012): kept fresh while a step runs; the host and pid of the process that ran the last step
    Column("heartbeat_at", DateTime),
    Column("host", Text),
    Column("pid", Integer),
    UniqueConstraint("dag_id", "run_id", name="uq_jobs_dag_id_run_id"),
    CheckConstraint(_in("status", JOB_STATUSES), name="status"),
    Index("ix_jobs_dmo_id_created_at", "dmo_id", "created_at"),
    Index("ix_jobs_in_progress", "dmo_id", postgresql_where=text("status = 'in_progress'")),
    schema="pipeline",
)

job_configs = Table(
    "job_configs",
    metadata,
    Column("job_id", BigInteger, ForeignKey("pipeline.jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("dmo_id", Integer, ForeignKey("dmos.id"), nullable=False),
    Column("source_type", Text, nullable=False),
    Column("data_domain", Text, nullable=False),
    Column("base_url", Text),
    Column("field_mappings", JSONB, nullable=False),
    Column("config_params", JSONB, nullable=False),
    Column("config_version", Integer, nullable=False, server_default=text("1")),
    Column("schedule", Text, nullable=False),
    Column("document", JSONB, nullable=False),
    _ts("created_at"),
    Column("source_updated_at", DateTime, nullable=False),
    schema="pipeline",
)

job_files = Table(
    "job_files",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("job_id", BigInteger, ForeignKey("pipeline.jobs.id", ondelete="CASCADE"), nullable=False),
    Column("s3_path", Text, nullable=False, unique=True),
    Column("stage", Text, nullable=False),
    Column("data_domain", Text),
    Column("country", Text),
    Column("state", Text),
    Column("dmo_id", Integer),
    Column("file_date", Date),
    Column("batch", Integer),
    Column("format", Text),
    Column("file_size", BigInteger),
    Column("record_count", Integer),
    Column("sha256", Text),
    Column("status", Text, nullable=False, server_default=text("'success'")),
    Column("source_uri", Text),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    _ts("created_at"),
    CheckConstraint("stage in ('raw', 'transformed')", name="stage"),
    Index("ix_job_files_job_id", "job_id"),
    Index("ix_job_files_dmo_id_stage_file_date", "dmo_id", "stage", "file_date"),
    schema="pipeline",
)

job_results = Table(
    "job_results",
    metadata,
    Column("job_id", BigInteger, ForeignKey("pipeline.jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("records_total", Integer),
    # By matching outcome (0013), summing to the records promoted: joined a listing that existed (or one this
    # job created for an earlier record), waiting in the review queue, a new listing.
    Column("records_matched", Integer),
    Column("records_review", Integer),
    Column("records_new", Integer),
    Column("records_updated", Integer),
    Column("records_deleted", Integer),
    Column("records_duplicates", Integer),
    Column("records_unchanged", Integer),
    Column("records_error", Integer),
    *_timestamps(),
    schema="pipeline",
)

job_errors = Table(
    "job_errors",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("job_id", BigInteger, ForeignKey("pipeline.jobs.id", ondelete="CASCADE"), nullable=False),
    Column("file_id", BigInteger, ForeignKey("pipeline.job_files.id")),
    Column("stage", Text),
    Column("record_id", Text),
    Column("record_no", Integer),
    Column("original_record", JSONB),
    Column("error_type", Text),
    Column("error_message", Text),
    _ts("created_at"),
    # "Ignore a record" (admin, 0009): who, when, why; ignored errors leave the error rate and the CSV log.
    _ts("ignored_at", default_now=False),
    Column("ignored_by", Text),
    Column("ignore_reason", Text),
    Index("ix_job_errors_job_id", "job_id"),
    Index("ix_job_errors_job_id_ignored", "job_id", postgresql_where=text("ignored_at is not null")),
    # The Health page's quality-gate stops (0018)
    Index("ix_job_errors_quality_gate", "created_at", postgresql_where=text("error_type = 'quality_gate'")),
    schema="pipeline",
)

bridge_source_listing = Table(
    "bridge_source_listing",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("job_file_id", BigInteger, ForeignKey("pipeline.job_files.id"), nullable=False),
    Column("job_id", BigInteger, ForeignKey("pipeline.jobs.id", ondelete="CASCADE"), nullable=False),
    Column("dmo_id", Integer, nullable=False),
    Column("source_record_hash", Text, nullable=False),
    Column("source_id", Text),
    Column("listing_id", BigInteger, ForeignKey("listings.id")),
    Column("listing_info_id", BigInteger, ForeignKey("listing_info.id")),
    Column("certainty_score", Numeric(5, 4), server_default=text("1.0")),
    Column("match_method", Text),
    Column("reason", Text),
    Column("mapped_at", DateTime, server_default=func.now()),
    Column("error_type", Text),
    Column("error_message", Text),
    UniqueConstraint("job_file_id", "source_record_hash", name="uq_bridge_source_listing_file_hash"),
    Index("ix_bridge_source_listing_dmo_hash", "dmo_id", "source_record_hash", "id"),
    Index("ix_bridge_source_listing_hash", "source_record_hash"),
    Index("ix_bridge_source_listing_listing_id", "listing_id"),
    # the admin's bridge viewer (0010): a method newest first, the doubtful rows by certainty
    Index("ix_bridge_source_listing_method_id", "match_method", "id"),
    Index(
        "ix_bridge_source_listing_doubtful",
        "certainty_score",
        "id",
        postgresql_where=text("certainty_score < 1"),
    ),
    schema="pipeline",
)

listing_edits = Table(
    "listing_edits",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("listing_id", Integer, ForeignKey("listings.id"), nullable=False),
    Column("listing_info_id", Integer, ForeignKey("listing_info.id")),
    Column("action", Text, nullable=False),
    Column("field", Text),
    Column("old_value", JSONB),
    Column("new_value", JSONB),
    Column("edited_by", Text, nullable=False),
    _ts("edited_at", nullable=False),
    Column("review_item_id", BigInteger, ForeignKey("pipeline.review_items.id")),
    CheckConstraint(
        "action in ('edit', 'unlock', 'accept_source', 'keep_manual', 'hide', 'show', 'archive', 'restore',"
        " 'move', 'merge')",  # move: a record to another listing; merge: a listing into another (0010)
        name="action",
    ),
    Index("ix_listing_edits_listing_id", "listing_id", "id"),
    schema="pipeline",
)
"""Every manual change to the catalogue: who, when, which field, the value before and after."""

listing_info_absence = Table(
    "listing_info_absence",
    metadata,
    Column("listing_info_id", Integer, ForeignKey("listing_info.id"), primary_key=True, autoincrement=False),
    Column("dmo_id", Integer, nullable=False),
    Column("missed_runs", Integer, nullable=False),
    Column("first_missed_job_id", BigInteger),
    Column("last_missed_job_id", BigInteger),
    schema="pipeline",
)
"""Full-snapshot runs in a row that did not see a listing_info (no row: seen by the last run). Promotion
keeps it; the removal sweep reads it."""

REMOVAL_HOLD_STATUSES = ("held", "released", "dismissed")

removal_holds = Table(
    "removal_holds",
    metadata,
    Column("job_id", BigInteger, ForeignKey("pipeline.jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("dmo_id", Integer, nullable=False),
    Column("data_domain", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'held'")),
    Column("reason", Text, nullable=False),
    Column("records", Integer, nullable=False),  # the held run's valid records
    Column("baseline_job_id", BigInteger),  # the DMO's last good full snapshot (null: none)
    Column("baseline_records", Integer),
    Column("min_ratio", Numeric(4, 3)),
    # the listing_info the held run did not see: their absence was not counted (a release counts it)
    Column("listing_info_ids", ARRAY(BigInteger), nullable=False, server_default=text("'{}'")),
    _ts("created_at"),
    _ts("resolved_at", default_now=False),
    Column("resolved_by", Text),
    Column("records_deleted", Integer),  # what the release's sweep removed
    CheckConstraint(_in("status", REMOVAL_HOLD_STATUSES), name="status"),
    Index("ix_removal_holds_dmo_id_status", "dmo_id", "status"),
    schema="pipeline",
)
"""Full snapshots whose removal sweep was held for review (too few records): see catalogue.lifecycle."""

images = Table(
    "images",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("dmo_id", Integer, ForeignKey("dmos.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("url_key", CHAR(64), nullable=False),  # sha256 of the URL: URLs can outgrow a btree entry
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("reason", Text),
    Column("detail", Text),
    Column("http_status", Integer),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("content_type", Text),
    Column("sha256", CHAR(64)),
    Column("source_format", Text),
    Column("width", Integer),
    Column("height", Integer),
    Column("bytes", Integer),
    Column("phash", CHAR(16)),
    Column("dhash", CHAR(16)),
    Column("listing_id", Integer),
    Column("canonical_url", Text),
    Column("renditions", JSONB, nullable=False, server_default=text("'{}'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("first_job_id", BigInteger),
    Column("last_job_id", BigInteger),
    Column("fetched_at", DateTime),
    Column("checked_at", DateTime),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    CheckConstraint("status in ('pending', 'downloaded', 'unchanged', 'failed')", name="status"),
    UniqueConstraint("dmo_id", "url_key", name="uq_images_dmo_url"),
    Index("ix_images_sha256", "sha256"),
    Index("ix_images_status", "dmo_id", "status"),
    Index("ix_images_status_id", "status", "id"),  # the image page's status filter (0008)
    schema="pipeline",
)
"""One row per image URL of a DMO: the last fetch's outcome, its validators, content hash, perceptual
hashes and stored objects (migration 0007)."""

image_fetches = Table(
    "image_fetches",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("job_id", BigInteger, ForeignKey("pipeline.jobs.id", ondelete="CASCADE")),
    Column("image_id", BigInteger, ForeignKey("pipeline.images.id", ondelete="CASCADE"), nullable=False),
    Column("status", Text, nullable=False),
    Column("reason", Text),
    Column("detail", Text),
    Column("http_status", Integer),
    Column("bytes", Integer),
    Column("elapsed_ms", Integer),
    _ts("created_at", nullable=False),
    Index("ix_image_fetches_job_id", "job_id"),
    Index("ix_image_fetches_image_id", "image_id", "id"),
    schema="pipeline",
)
"""What each job (null: a re-fetch by hand) did with each image."""

review_items = Table(
    "review_items",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("item_type", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'open'")),
    Column("dmo_id", Integer),
    Column("job_id", BigInteger, ForeignKey("pipeline.jobs.id", ondelete="SET NULL")),
    Column("listing_id", BigInteger, ForeignKey("listings.id")),
    Column("listing_info_id", BigInteger, ForeignKey("listing_info.id")),
    Column("source_record_hash", Text),
    Column("payload", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("candidates", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("confidence", Numeric(5, 4)),
    _ts("created_at"),
    Column("resolved_at", DateTime),
    Column("resolved_by", Text),
    Column("resolution", Text),
    CheckConstraint(
        "item_type in ('low_confidence_match', 'multiple_close_matches', 'manual_edit_conflict', 'source_conflict')",
        name="item_type",
    ),
    CheckConstraint("status in ('open', 'resolved', 'dismissed')", name="status"),
    Index("ix_review_items_status_item_type", "status", "item_type"),
    schema="pipeline",
)

MATCH_MODEL_SOURCES = ("em", "labels", "run")
MATCH_LABEL_SOURCES = ("accept", "choose", "new", "dismiss", "merge", "force_match", "unmerge")

match_models = Table(
    "match_models",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("fitted_at", DateTime, nullable=False, server_default=func.now()),
    Column("source", Text, nullable=False),
    Column("params", JSONB, nullable=False),
    Column("candidate_pairs", Integer, nullable=False, server_default=text("0")),
    Column("random_pairs", Integer, nullable=False, server_default=text("0")),
    Column("labelled_pairs", Integer, nullable=False, server_default=text("0")),
    Column("metrics", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("job_id", BigInteger, ForeignKey("pipeline.jobs.id", ondelete="SET NULL")),  # source run: its job
    CheckConstraint(_in("source", MATCH_MODEL_SOURCES), name="source"),
    schema="pipeline",
)
"""Fitted Fellegi-Sunter match models (migration 0015): `listings matching fit` stores 'em' / 'labels' models,
the latest of which is where each run's EM starts; each match step stores the model it scored with ('run',
with its job)."""

match_labels = Table(
    "match_labels",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("left_record", JSONB, nullable=False),
    Column("right_record", JSONB, nullable=False),
    Column("left_listing_id", BigInteger),
    Column("right_listing_id", BigInteger),
    Column("listing_info_id", BigInteger),
    Column("review_item_id", BigInteger),
    Column("label", Boolean, nullable=False),
    Column("source", Text, nullable=False),
    Column("decided_by", Text),
    Column("decided_at", DateTime, nullable=False, server_default=func.now()),
    CheckConstraint(_in("source", MATCH_LABEL_SOURCES), name="source"),
    Index("ix_match_labels_review_item_id", "review_item_id"),
    schema="pipeline",
)
"""Labelled pairs from review decisions and manual merges (migration 0015): both sides' values as matching
saw them, the label, which decision and when (`listings.matching.model_store`)."""

geocode_cache = Table(
    "geocode_cache",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("provider", Text, nullable=False),
    Column("query_hash", Text, nullable=False),
    Column("query", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("lat", Numeric(10, 8)),
    Column("lng", Numeric(11, 8)),
    Column("place_id", Text),
    Column("response", JSONB),
    _ts("created_at"),
    Column("expires_at", DateTime),
    UniqueConstraint("provider", "query_hash", name="uq_geocode_cache_provider_query_hash"),
    schema="pipeline",
)

api_usage = Table(
    "api_usage",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("provider", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("job_id", BigInteger),  # null: calls made outside a job (preview)
    Column("calls", Integer, nullable=False, server_default=text("0")),
    Column("cache_hits", Integer, nullable=False, server_default=text("0")),
    Column("failures", Integer, nullable=False, server_default=text("0")),
    Column("budget_refusals", Integer, nullable=False, server_default=text("0")),
    # NULLS NOT DISTINCT: one row per provider and day for the calls made outside a job, too
    UniqueConstraint(
        "provider",
        "day",
        "job_id",
        name="uq_api_usage_provider_day_job_id",
        postgresql_nulls_not_distinct=True,
    ),
    schema="pipeline",
)

listing_match = Table(
    "listing_match",
    metadata,
    Column("listing_id", Integer, ForeignKey("listings.id"), primary_key=True, autoincrement=False),
    Column("name", Text),
    Column("name_key", Text),
    Column("address1", Text),
    Column("city", Text),
    Column("zip", Text),
    Column("country", CHAR(2)),
    Column("lat", Numeric(10, 8)),
    Column("lng", Numeric(11, 8)),
    Column("geog", Geography()),
    Column("postal_key", Text),
    Column("address_key", Text),
    Column("house_number", Text),
    Column("city_key", Text),
    Column("phones", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("website_hosts", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("websites", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("categories", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("updated_at", DateTime, nullable=False, server_default=func.now()),
    Column("image_phashes", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("region_key", Text),  # places.region_key(state, country): "QC", "CA"... (0014)
    Column("names", ARRAY(Text), nullable=False, server_default=text("'{}'")),  # every DMO's other names
    Index("ix_listing_match_geog", "geog", postgresql_using="gist"),
    Index("ix_listing_match_postal_key", "postal_key"),
    Index(  # btree_gin: city equality and name trigrams in one index (migration 0005)
        "ix_listing_match_city_name",
        "city_key",
        "name",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    ),
    # candidate blocks that need no spelling in common (0014)
    Index("ix_listing_match_phones", "phones", postgresql_using="gin"),
    Index("ix_listing_match_website_hosts", "website_hosts", postgresql_using="gin"),
    Index("ix_listing_match_address_region", "address_key", text("coalesce(region_key, '')")),  # (0017)
    Index("ix_listing_match_region_name", "region_key", "name_key"),
    # the name words of a city, "montreal|deli" (0016: pipeline.city_words)
    Index(
        "ix_listing_match_city_words", text("pipeline.city_words(city_key, name_key)"), postgresql_using="gin"
    ),
    schema="pipeline",
)
"""The matching index: a listing's keys, location and every DMO's contacts in one row (migration 0004
defines it and `pipeline.refresh_listing_match(ids)`, which promotion calls for the listings it touched)."""

# ------------------------------------------------------------------------------------------------
# staging: mirrors of the public tables for one batch, keyed by (job_id, record_no).
# No foreign keys to public: promotion resolves public ids.
# ------------------------------------------------------------------------------------------------


def _staging_key() -> list[Column[Any]]:
    return [
        Column("job_id", BigInteger, nullable=False),
        Column("record_no", Integer, nullable=False),
    ]


def _staging_fk(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["job_id", "record_no"],
        [f"staging.{table}.job_id", f"staging.{table}.record_no"],
        ondelete="CASCADE",
    )


stg_listings = Table(
    "listings",
    metadata,
    *_staging_key(),
    Column("listing_id", Integer),  # resolved public.listings.id (null: new listing)
    Column("name", String),
    Column("name_key", Text),
    Column("google_place_id", String),
    _ts("created_at"),
    # the id a new listing gets at promotion, reserved by the images step (images are stored under it)
    Column("reserved_listing_id", Integer),
    PrimaryKeyConstraint("job_id", "record_no", name="listings_pkey"),
    schema="staging",
)

stg_locations = Table(
    "locations",
    metadata,
    *_staging_key(),
    Column("address1", String),
    Column("address2", String),
    Column("city", String),
    Column("state", String),
    Column("zip", String),
    Column("country", CHAR(2)),
    Column("lat", Numeric(10, 8)),
    Column("lng", Numeric(11, 8)),
    Column("location_hash", Text, nullable=False),
    Column("address_key", Text),
    Column("house_number", Text),
    Column("city_key", Text),
    Column("region_key", Text),
    PrimaryKeyConstraint("job_id", "record_no", name="locations_pkey"),
    _staging_fk("listings"),
    schema="staging",
)

stg_contact_info = Table(
    "contact_info",
    metadata,
    *_staging_key(),
    Column("name", String),
    Column("email", String),
    Column("local_phone", String),
    Column("international_phone", String),
    Column("website_url", String),
    Column("facebook_url", String),
    Column("instagram_url", String),
    Column("youtube_url", String),
    Column("tiktok_url", String),
    Column("twitter_url", String),
    Column("pinterest_url", String),
    Column("tripadvisor_url", String),
    Column("yelp_url", String),
    Column("contact_hash", Text, nullable=False),
    Column("website_host", Text),
    PrimaryKeyConstraint("job_id", "record_no", name="contact_info_pkey"),
    _staging_fk("listings"),
    schema="staging",
)

stg_listing_info = Table(
    "listing_info",
    metadata,
    *_staging_key(),
    Column("dmo_id", Integer, nullable=False),
    Column("listing_info_id", Integer),  # resolved public.listing_info.id (null: new for this DMO)
    Column("file_id", BigInteger, nullable=False),  # the transformed job_files row
    Column("source_id", String),
    Column("record_hash", Text, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("match_method", Text),
    Column("name", String),
    Column("description", String),
    Column("category", String),
    Column("seen_at", DateTime, nullable=False),
    Column("source_category", String),
    Column("opening_hours_text", String),
    # the match step's decision for records without a deterministic hit
    Column("certainty", Numeric(5, 4)),
    Column("match_reason", Text),
    Column("pending_review", Boolean, nullable=False, server_default=text("false")),
    Column("images_hash", CHAR(64)),  # set by the images step
    PrimaryKeyConstraint("job_id", "record_no", name="listing_info_pkey"),
    _staging_fk("listings"),
    schema="staging",
)

stg_listing_images = Table(
    "listing_images",
    metadata,
    *_staging_key(),
    Column("rank", Integer, nullable=False),
    Column("image", String, nullable=False),
    Column("canonical_image_url", String),
    # set by the images step (status null: images not processed for this DMO)
    Column("image_id", BigInteger),
    Column("status", Text),
    Column("renditions", JSONB),
    Column("phash", CHAR(16)),
    Column("width", Integer),
    Column("height", Integer),
    PrimaryKeyConstraint("job_id", "record_no", "rank", name="listing_images_pkey"),
    Index("ix_listing_images_image_id", "job_id", "image_id"),
    _staging_fk("listing_info"),
    schema="staging",
)

stg_opening_dates = Table(
    "opening_dates",
    metadata,
    *_staging_key(),
    Column("seq", Integer, nullable=False),
    Column("start_date", String),
    Column("end_date", String),
    PrimaryKeyConstraint("job_id", "record_no", "seq", name="opening_dates_pkey"),
    _staging_fk("listing_info"),
    schema="staging",
)

stg_opening_hours = Table(
    "opening_hours",
    metadata,
    *_staging_key(),
    Column("seq", Integer, nullable=False),
    Column("hours_seq", Integer, nullable=False),
    Column("day_id", Integer),
    Column("open_time", String),
    Column("close_time", String),
    PrimaryKeyConstraint("job_id", "record_no", "seq", "hours_seq", name="opening_hours_pkey"),
    ForeignKeyConstraint(
        ["job_id", "record_no", "seq"],
        ["staging.opening_dates.job_id", "staging.opening_dates.record_no", "staging.opening_dates.seq"],
        ondelete="CASCADE",
    ),
    schema="staging",
)

stg_bridge_attributes_listings = Table(
    "bridge_attributes_listings",
    metadata,
    *_staging_key(),
    Column("attribute_id", Integer, nullable=False),
    PrimaryKeyConstraint("job_id", "record_no", "attribute_id", name="bridge_attributes_listings_pkey"),
    _staging_fk("listings"),
    schema="staging",
)

STAGING_TABLES = (
    stg_listings,
    stg_locations,
    stg_contact_info,
    stg_listing_info,
    stg_listing_images,
    stg_opening_dates,
    stg_opening_hours,
    stg_bridge_attributes_listings,
)


SCHEMAS = ("public", "staging", "pipeline")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic filter: our three schemas, without PostGIS's own table."""
    if type_ == "schema":
        return name is None or name in SCHEMAS  # None: the default schema, public
    if type_ == "table":
        return name not in {"spatial_ref_sys", "alembic_version"}
    return True
