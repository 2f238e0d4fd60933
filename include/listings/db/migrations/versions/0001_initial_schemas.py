"""Initial schemas: public (seed production tables + additions), staging mirrors, pipeline tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 10:29:33.535627
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import UserDefinedType

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


class Geography(UserDefinedType):  # frozen copy: migrations never import the live model
    cache_ok = True

    def get_col_spec(self, **kw):
        return "geography(Point,4326)"


DMO_TYPES = [(1, "SCRAPED"), (2, "TRAVEL_SITE"), (3, "CLIENT"), (4, "PARTNER")]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def upgrade() -> None:
    op.execute("create extension if not exists postgis")
    op.execute("create extension if not exists pg_trgm")
    op.execute("create schema if not exists staging")
    op.execute("create schema if not exists pipeline")
    op.create_table(
        "geocode_cache",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("query_hash", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("lat", sa.Numeric(precision=10, scale=8), nullable=True),
        sa.Column("lng", sa.Numeric(precision=11, scale=8), nullable=True),
        sa.Column("place_id", sa.Text(), nullable=True),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("geocode_cache_pkey")),
        sa.UniqueConstraint("provider", "query_hash", name="uq_geocode_cache_provider_query_hash"),
        schema="pipeline",
    )
    op.create_table(
        "contact_info",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("local_phone", sa.String(), nullable=True),
        sa.Column("international_phone", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("website_url", sa.String(), nullable=True),
        sa.Column("facebook_url", sa.String(), nullable=True),
        sa.Column("instagram_url", sa.String(), nullable=True),
        sa.Column("youtube_url", sa.String(), nullable=True),
        sa.Column("tiktok_url", sa.String(), nullable=True),
        sa.Column("twitter_url", sa.String(), nullable=True),
        sa.Column("pinterest_url", sa.String(), nullable=True),
        sa.Column("tripadvisor_url", sa.String(), nullable=True),
        sa.Column("yelp_url", sa.String(), nullable=True),
        sa.Column("contact_hash", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("contact_info_pkey")),
        schema="public",
    )
    op.create_table(
        "locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address1", sa.String(), nullable=True),
        sa.Column("address2", sa.String(), nullable=True),
        sa.Column("city", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=True),
        sa.Column("zip", sa.String(), nullable=True),
        sa.Column("country", sa.CHAR(length=2), nullable=True),
        sa.Column("lat", sa.Numeric(precision=10, scale=8), nullable=True),
        sa.Column("lng", sa.Numeric(precision=11, scale=8), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("geog", Geography(), nullable=True),
        sa.Column("location_hash", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("locations_pkey")),
        schema="public",
    )
    op.create_index(
        "ix_locations_geog", "locations", ["geog"], unique=False, schema="public", postgresql_using="gist"
    )
    op.create_table(
        "ref_attributes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("icon", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("ref_attributes_pkey")),
        schema="public",
    )
    op.create_table(
        "ref_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("ref_days_pkey")),
        schema="public",
    )
    op.create_table(
        "ref_dmo_types",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("ref_dmo_types_pkey")),
        sa.UniqueConstraint("name", name=op.f("uq_ref_dmo_types_name")),
        schema="public",
    )
    op.create_table(
        "listings",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("record_no", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("google_place_id", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "record_no", name="listings_pkey"),
        schema="staging",
    )
    op.create_table(
        "dmos",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("dmo_type_id", sa.SmallInteger(), nullable=False),
        sa.Column("source_type", sa.String(), nullable=False),
        sa.Column("country", sa.CHAR(length=2), nullable=False),
        sa.Column("state", sa.String(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.CheckConstraint(
            "source_type in ('csv', 'xls', 'wordpress', 'drupal', 'website', 'api', 'esri', 'here')",
            name=op.f("ck_dmos_source_type"),
        ),
        sa.ForeignKeyConstraint(
            ["dmo_type_id"], ["public.ref_dmo_types.id"], name=op.f("fk_dmos_dmo_type_id_ref_dmo_types")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("dmos_pkey")),
        schema="public",
    )
    op.create_table(
        "listings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("google_place_id", sa.String(), nullable=True),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("manually_modified", sa.Boolean(), server_default=sa.text("false"), nullable=True),
        sa.Column("manually_modified_at", sa.DateTime(), nullable=True),
        sa.Column("manually_modified_by", sa.Integer(), nullable=True),
        sa.Column("listing_visible", sa.Boolean(), server_default=sa.text("true"), nullable=True),
        sa.Column("listing_status", sa.String(), server_default=sa.text("'active'"), nullable=False),
        sa.Column("last_job_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "listing_status in ('active', 'archived', 'invalid')", name=op.f("ck_listings_listing_status")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["public.locations.id"], name=op.f("fk_listings_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("listings_pkey")),
        schema="public",
    )
    op.create_index("ix_listings_location_id", "listings", ["location_id"], unique=False, schema="public")
    op.create_index(
        "ix_listings_name_trgm",
        "listings",
        ["name"],
        unique=False,
        schema="public",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.create_table(
        "bridge_attributes_listings",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("record_no", sa.Integer(), nullable=False),
        sa.Column("attribute_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id", "record_no"],
            ["staging.listings.job_id", "staging.listings.record_no"],
            name=op.f("fk_bridge_attributes_listings_job_id_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "job_id", "record_no", "attribute_id", name="bridge_attributes_listings_pkey"
        ),
        schema="staging",
    )
    op.create_table(
        "contact_info",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("record_no", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("local_phone", sa.String(), nullable=True),
        sa.Column("international_phone", sa.String(), nullable=True),
        sa.Column("website_url", sa.String(), nullable=True),
        sa.Column("facebook_url", sa.String(), nullable=True),
        sa.Column("instagram_url", sa.String(), nullable=True),
        sa.Column("youtube_url", sa.String(), nullable=True),
        sa.Column("tiktok_url", sa.String(), nullable=True),
        sa.Column("twitter_url", sa.String(), nullable=True),
        sa.Column("pinterest_url", sa.String(), nullable=True),
        sa.Column("tripadvisor_url", sa.String(), nullable=True),
        sa.Column("yelp_url", sa.String(), nullable=True),
        sa.Column("contact_hash", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id", "record_no"],
            ["staging.listings.job_id", "staging.listings.record_no"],
            name=op.f("fk_contact_info_job_id_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "record_no", name="contact_info_pkey"),
        schema="staging",
    )
    op.create_table(
        "listing_info",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("record_no", sa.Integer(), nullable=False),
        sa.Column("dmo_id", sa.Integer(), nullable=False),
        sa.Column("listing_info_id", sa.Integer(), nullable=True),
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=True),
        sa.Column("record_hash", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.Text(), nullable=False),
        sa.Column("match_method", sa.Text(), nullable=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id", "record_no"],
            ["staging.listings.job_id", "staging.listings.record_no"],
            name=op.f("fk_listing_info_job_id_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "record_no", name="listing_info_pkey"),
        schema="staging",
    )
    op.create_table(
        "locations",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("record_no", sa.Integer(), nullable=False),
        sa.Column("address1", sa.String(), nullable=True),
        sa.Column("address2", sa.String(), nullable=True),
        sa.Column("city", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=True),
        sa.Column("zip", sa.String(), nullable=True),
        sa.Column("country", sa.CHAR(length=2), nullable=True),
        sa.Column("lat", sa.Numeric(precision=10, scale=8), nullable=True),
        sa.Column("lng", sa.Numeric(precision=11, scale=8), nullable=True),
        sa.Column("location_hash", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id", "record_no"],
            ["staging.listings.job_id", "staging.listings.record_no"],
            name=op.f("fk_locations_job_id_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "record_no", name="locations_pkey"),
        schema="staging",
    )
    op.create_table(
        "configs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("dmo_id", sa.Integer(), nullable=False),
        sa.Column("source_type", sa.Text(), nullable=False),
        sa.Column("data_domain", sa.Text(), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=True),
        sa.Column(
            "field_mappings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "config_params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("schedule", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("content_hash", sa.Text(), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.CheckConstraint(
            "schedule in ('manual', 'hourly', 'daily', 'weekly', 'monthly')", name=op.f("ck_configs_schedule")
        ),
        sa.CheckConstraint(
            "source_type in ('csv', 'xls', 'wordpress', 'drupal', 'website', 'api', 'esri', 'here')",
            name=op.f("ck_configs_source_type"),
        ),
        sa.ForeignKeyConstraint(["dmo_id"], ["public.dmos.id"], name=op.f("fk_configs_dmo_id_dmos")),
        sa.PrimaryKeyConstraint("id", name=op.f("configs_pkey")),
        sa.UniqueConstraint("dmo_id", "data_domain", name="uq_configs_dmo_id_data_domain"),
        schema="pipeline",
    )
    op.create_table(
        "bridge_attributes_listings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attribute_id", sa.Integer(), nullable=True),
        sa.Column("listing_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.ForeignKeyConstraint(
            ["attribute_id"],
            ["public.ref_attributes.id"],
            name=op.f("fk_bridge_attributes_listings_attribute_id_ref_attributes"),
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["public.listings.id"],
            name=op.f("fk_bridge_attributes_listings_listing_id_listings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("bridge_attributes_listings_pkey")),
        schema="public",
    )
    op.create_index(
        "ix_bridge_attributes_listings_listing_id",
        "bridge_attributes_listings",
        ["listing_id"],
        unique=False,
        schema="public",
    )
    op.create_table(
        "listing_info",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("dmo_id", sa.Integer(), nullable=False),
        sa.Column("contact_info_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("manually_modified", sa.Boolean(), server_default=sa.text("false"), nullable=True),
        sa.Column("manually_modified_at", sa.DateTime(), nullable=True),
        sa.Column("manually_modified_by", sa.Integer(), nullable=True),
        sa.Column("info_visible", sa.Boolean(), server_default=sa.text("true"), nullable=True),
        sa.Column("info_status", sa.String(), server_default=sa.text("'active'"), nullable=False),
        sa.Column("external_source_id", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.Column("last_job_id", sa.BigInteger(), nullable=True),
        sa.Column("content_hash", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "info_status in ('active', 'removed', 'pending')", name=op.f("ck_listing_info_info_status")
        ),
        sa.ForeignKeyConstraint(
            ["contact_info_id"],
            ["public.contact_info.id"],
            name=op.f("fk_listing_info_contact_info_id_contact_info"),
        ),
        sa.ForeignKeyConstraint(["dmo_id"], ["public.dmos.id"], name=op.f("fk_listing_info_dmo_id_dmos")),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["public.listings.id"], name=op.f("fk_listing_info_listing_id_listings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("listing_info_pkey")),
        schema="public",
    )
    op.create_index(
        "ix_listing_info_contact_info_id", "listing_info", ["contact_info_id"], unique=False, schema="public"
    )
    op.create_index(
        "ix_listing_info_dmo_id_external_source_id",
        "listing_info",
        ["dmo_id", "external_source_id"],
        unique=False,
        schema="public",
    )
    op.create_index(
        "ix_listing_info_listing_id", "listing_info", ["listing_id"], unique=False, schema="public"
    )
    op.create_table(
        "listing_images",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("record_no", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("image", sa.String(), nullable=False),
        sa.Column("canonical_image_url", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id", "record_no"],
            ["staging.listing_info.job_id", "staging.listing_info.record_no"],
            name=op.f("fk_listing_images_job_id_listing_info"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "record_no", "rank", name="listing_images_pkey"),
        schema="staging",
    )
    op.create_table(
        "opening_dates",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("record_no", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.String(), nullable=True),
        sa.Column("end_date", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id", "record_no"],
            ["staging.listing_info.job_id", "staging.listing_info.record_no"],
            name=op.f("fk_opening_dates_job_id_listing_info"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "record_no", "seq", name="opening_dates_pkey"),
        schema="staging",
    )
    op.create_table(
        "config_versions",
        sa.Column("config_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("changed_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["pipeline.configs.id"],
            name=op.f("fk_config_versions_config_id_configs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("config_id", "version", name="config_versions_pkey"),
        schema="pipeline",
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("dmo_id", sa.Integer(), nullable=False),
        sa.Column("config_id", sa.BigInteger(), nullable=True),
        sa.Column("data_domain", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("dag_id", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("promoted_at", sa.DateTime(), nullable=True),
        sa.Column("error_summary", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status in ('queued', 'in_progress', 'succeeded', 'partial', 'failed', 'stale', 'deleted')",
            name=op.f("ck_jobs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["config_id"], ["pipeline.configs.id"], name=op.f("fk_jobs_config_id_configs")
        ),
        sa.ForeignKeyConstraint(["dmo_id"], ["public.dmos.id"], name=op.f("fk_jobs_dmo_id_dmos")),
        sa.PrimaryKeyConstraint("id", name=op.f("jobs_pkey")),
        sa.UniqueConstraint("dag_id", "run_id", name="uq_jobs_dag_id_run_id"),
        schema="pipeline",
    )
    op.create_index(
        "ix_jobs_dmo_id_created_at", "jobs", ["dmo_id", "created_at"], unique=False, schema="pipeline"
    )
    op.create_table(
        "listing_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("listing_info_id", sa.Integer(), nullable=True),
        sa.Column("image", sa.String(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.ForeignKeyConstraint(
            ["listing_info_id"],
            ["public.listing_info.id"],
            name=op.f("fk_listing_images_listing_info_id_listing_info"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("listing_images_pkey")),
        schema="public",
    )
    op.create_index(
        "ix_listing_images_listing_info_id",
        "listing_images",
        ["listing_info_id"],
        unique=False,
        schema="public",
    )
    op.create_table(
        "opening_dates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.String(), nullable=True),
        sa.Column("end_date", sa.String(), nullable=True),
        sa.Column("listing_info_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.ForeignKeyConstraint(
            ["listing_info_id"],
            ["public.listing_info.id"],
            name=op.f("fk_opening_dates_listing_info_id_listing_info"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("opening_dates_pkey")),
        schema="public",
    )
    op.create_index(
        "ix_opening_dates_listing_info_id",
        "opening_dates",
        ["listing_info_id"],
        unique=False,
        schema="public",
    )
    op.create_table(
        "opening_hours",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("record_no", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hours_seq", sa.Integer(), nullable=False),
        sa.Column("day_id", sa.Integer(), nullable=True),
        sa.Column("open_time", sa.String(), nullable=True),
        sa.Column("close_time", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id", "record_no", "seq"],
            ["staging.opening_dates.job_id", "staging.opening_dates.record_no", "staging.opening_dates.seq"],
            name=op.f("fk_opening_hours_job_id_opening_dates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "record_no", "seq", "hours_seq", name="opening_hours_pkey"),
        schema="staging",
    )
    op.create_table(
        "job_configs",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("dmo_id", sa.Integer(), nullable=False),
        sa.Column("source_type", sa.Text(), nullable=False),
        sa.Column("data_domain", sa.Text(), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=True),
        sa.Column("field_mappings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("config_params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("config_version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("schedule", sa.Text(), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("source_updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["dmo_id"], ["public.dmos.id"], name=op.f("fk_job_configs_dmo_id_dmos")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["pipeline.jobs.id"], name=op.f("fk_job_configs_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("job_configs_pkey")),
        schema="pipeline",
    )
    op.create_table(
        "job_files",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("s3_path", sa.Text(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("data_domain", sa.Text(), nullable=True),
        sa.Column("country", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("dmo_id", sa.Integer(), nullable=True),
        sa.Column("file_date", sa.Date(), nullable=True),
        sa.Column("batch", sa.Integer(), nullable=True),
        sa.Column("format", sa.Text(), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("record_count", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'success'"), nullable=False),
        sa.Column("source_uri", sa.Text(), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.CheckConstraint("stage in ('raw', 'transformed')", name=op.f("ck_job_files_stage")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["pipeline.jobs.id"], name=op.f("fk_job_files_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("job_files_pkey")),
        sa.UniqueConstraint("s3_path", name=op.f("uq_job_files_s3_path")),
        schema="pipeline",
    )
    op.create_index(
        "ix_job_files_dmo_id_stage_file_date",
        "job_files",
        ["dmo_id", "stage", "file_date"],
        unique=False,
        schema="pipeline",
    )
    op.create_index("ix_job_files_job_id", "job_files", ["job_id"], unique=False, schema="pipeline")
    op.create_table(
        "job_results",
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("records_total", sa.Integer(), nullable=True),
        sa.Column("records_new", sa.Integer(), nullable=True),
        sa.Column("records_updated", sa.Integer(), nullable=True),
        sa.Column("records_deleted", sa.Integer(), nullable=True),
        sa.Column("records_duplicates", sa.Integer(), nullable=True),
        sa.Column("records_unchanged", sa.Integer(), nullable=True),
        sa.Column("records_error", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["pipeline.jobs.id"], name=op.f("fk_job_results_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("job_results_pkey")),
        schema="pipeline",
    )
    op.create_table(
        "review_items",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("item_type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'open'"), nullable=False),
        sa.Column("dmo_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("listing_id", sa.BigInteger(), nullable=True),
        sa.Column("listing_info_id", sa.BigInteger(), nullable=True),
        sa.Column("source_record_hash", sa.Text(), nullable=True),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "candidates",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("confidence", sa.Numeric(precision=5, scale=4), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "item_type in ('low_confidence_match', 'multiple_close_matches', 'manual_edit_conflict', 'source_conflict')",
            name=op.f("ck_review_items_item_type"),
        ),
        sa.CheckConstraint(
            "status in ('open', 'resolved', 'dismissed')", name=op.f("ck_review_items_status")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["pipeline.jobs.id"], name=op.f("fk_review_items_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["public.listings.id"], name=op.f("fk_review_items_listing_id_listings")
        ),
        sa.ForeignKeyConstraint(
            ["listing_info_id"],
            ["public.listing_info.id"],
            name=op.f("fk_review_items_listing_info_id_listing_info"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("review_items_pkey")),
        schema="pipeline",
    )
    op.create_index(
        "ix_review_items_status_item_type",
        "review_items",
        ["status", "item_type"],
        unique=False,
        schema="pipeline",
    )
    op.create_table(
        "opening_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("opening_date_id", sa.Integer(), nullable=True),
        sa.Column("day_id", sa.Integer(), nullable=True),
        sa.Column("open_time", sa.String(), nullable=True),
        sa.Column("close_time", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.ForeignKeyConstraint(
            ["day_id"], ["public.ref_days.id"], name=op.f("fk_opening_hours_day_id_ref_days")
        ),
        sa.ForeignKeyConstraint(
            ["opening_date_id"],
            ["public.opening_dates.id"],
            name=op.f("fk_opening_hours_opening_date_id_opening_dates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("opening_hours_pkey")),
        schema="public",
    )
    op.create_index(
        "ix_opening_hours_opening_date_id",
        "opening_hours",
        ["opening_date_id"],
        unique=False,
        schema="public",
    )
    op.create_table(
        "bridge_source_listing",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("job_file_id", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("dmo_id", sa.Integer(), nullable=False),
        sa.Column("source_record_hash", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=True),
        sa.Column("listing_id", sa.BigInteger(), nullable=True),
        sa.Column("listing_info_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "certainty_score", sa.Numeric(precision=5, scale=4), server_default=sa.text("1.0"), nullable=True
        ),
        sa.Column("match_method", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("mapped_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("error_type", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_file_id"],
            ["pipeline.job_files.id"],
            name=op.f("fk_bridge_source_listing_job_file_id_job_files"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["pipeline.jobs.id"],
            name=op.f("fk_bridge_source_listing_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["public.listings.id"], name=op.f("fk_bridge_source_listing_listing_id_listings")
        ),
        sa.ForeignKeyConstraint(
            ["listing_info_id"],
            ["public.listing_info.id"],
            name=op.f("fk_bridge_source_listing_listing_info_id_listing_info"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("bridge_source_listing_pkey")),
        sa.UniqueConstraint("job_file_id", "source_record_hash", name="uq_bridge_source_listing_file_hash"),
        schema="pipeline",
    )
    op.create_index(
        "ix_bridge_source_listing_dmo_hash",
        "bridge_source_listing",
        ["dmo_id", "source_record_hash", "id"],
        unique=False,
        schema="pipeline",
    )
    op.create_index(
        "ix_bridge_source_listing_hash",
        "bridge_source_listing",
        ["source_record_hash"],
        unique=False,
        schema="pipeline",
    )
    op.create_index(
        "ix_bridge_source_listing_listing_id",
        "bridge_source_listing",
        ["listing_id"],
        unique=False,
        schema="pipeline",
    )
    op.create_table(
        "job_errors",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("file_id", sa.BigInteger(), nullable=True),
        sa.Column("stage", sa.Text(), nullable=True),
        sa.Column("record_id", sa.Text(), nullable=True),
        sa.Column("record_no", sa.Integer(), nullable=True),
        sa.Column("original_record", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error_type", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"], ["pipeline.job_files.id"], name=op.f("fk_job_errors_file_id_job_files")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["pipeline.jobs.id"], name=op.f("fk_job_errors_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("job_errors_pkey")),
        schema="pipeline",
    )
    op.create_index("ix_job_errors_job_id", "job_errors", ["job_id"], unique=False, schema="pipeline")
    op.bulk_insert(
        sa.table("ref_dmo_types", sa.column("id"), sa.column("name"), schema="public"),
        [{"id": i, "name": n} for i, n in DMO_TYPES],
    )
    op.bulk_insert(
        sa.table("ref_days", sa.column("id"), sa.column("name"), schema="public"),
        [{"id": i, "name": n} for i, n in enumerate(DAYS, start=1)],
    )
    op.execute("select setval('public.ref_days_id_seq', 7)")


def downgrade() -> None:
    op.drop_index("ix_job_errors_job_id", table_name="job_errors", schema="pipeline")
    op.drop_table("job_errors", schema="pipeline")
    op.drop_index(
        "ix_bridge_source_listing_listing_id", table_name="bridge_source_listing", schema="pipeline"
    )
    op.drop_index("ix_bridge_source_listing_hash", table_name="bridge_source_listing", schema="pipeline")
    op.drop_index("ix_bridge_source_listing_dmo_hash", table_name="bridge_source_listing", schema="pipeline")
    op.drop_table("bridge_source_listing", schema="pipeline")
    op.drop_index("ix_opening_hours_opening_date_id", table_name="opening_hours", schema="public")
    op.drop_table("opening_hours", schema="public")
    op.drop_index("ix_review_items_status_item_type", table_name="review_items", schema="pipeline")
    op.drop_table("review_items", schema="pipeline")
    op.drop_table("job_results", schema="pipeline")
    op.drop_index("ix_job_files_job_id", table_name="job_files", schema="pipeline")
    op.drop_index("ix_job_files_dmo_id_stage_file_date", table_name="job_files", schema="pipeline")
    op.drop_table("job_files", schema="pipeline")
    op.drop_table("job_configs", schema="pipeline")
    op.drop_table("opening_hours", schema="staging")
    op.drop_index("ix_opening_dates_listing_info_id", table_name="opening_dates", schema="public")
    op.drop_table("opening_dates", schema="public")
    op.drop_index("ix_listing_images_listing_info_id", table_name="listing_images", schema="public")
    op.drop_table("listing_images", schema="public")
    op.drop_index("ix_jobs_dmo_id_created_at", table_name="jobs", schema="pipeline")
    op.drop_table("jobs", schema="pipeline")
    op.drop_table("config_versions", schema="pipeline")
    op.drop_table("opening_dates", schema="staging")
    op.drop_table("listing_images", schema="staging")
    op.drop_index("ix_listing_info_listing_id", table_name="listing_info", schema="public")
    op.drop_index("ix_listing_info_dmo_id_external_source_id", table_name="listing_info", schema="public")
    op.drop_index("ix_listing_info_contact_info_id", table_name="listing_info", schema="public")
    op.drop_table("listing_info", schema="public")
    op.drop_index(
        "ix_bridge_attributes_listings_listing_id", table_name="bridge_attributes_listings", schema="public"
    )
    op.drop_table("bridge_attributes_listings", schema="public")
    op.drop_table("configs", schema="pipeline")
    op.drop_table("locations", schema="staging")
    op.drop_table("listing_info", schema="staging")
    op.drop_table("contact_info", schema="staging")
    op.drop_table("bridge_attributes_listings", schema="staging")
    op.drop_index(
        "ix_listings_name_trgm",
        table_name="listings",
        schema="public",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.drop_index("ix_listings_location_id", table_name="listings", schema="public")
    op.drop_table("listings", schema="public")
    op.drop_table("dmos", schema="public")
    op.drop_table("listings", schema="staging")
    op.drop_table("ref_dmo_types", schema="public")
    op.drop_table("ref_days", schema="public")
    op.drop_table("ref_attributes", schema="public")
    op.drop_index("ix_locations_geog", table_name="locations", schema="public", postgresql_using="gist")
    op.drop_table("locations", schema="public")
    op.drop_table("contact_info", schema="public")
    op.drop_table("geocode_cache", schema="pipeline")
    op.execute("drop schema if exists staging cascade")
    op.execute("drop schema if exists pipeline cascade")
