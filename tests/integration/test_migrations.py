"""Migrations: one head; upgrade → downgrade → upgrade on an empty database; models and migrations agree."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from listings.db.engine import alembic_config, downgrade, migrate
from listings.db.tables import include_name, metadata

EXPECTED_TABLES = {
    "public": {
        "dmos", "ref_dmo_types", "listings", "listing_info", "locations", "contact_info", "listing_images",
        "opening_dates", "opening_hours", "ref_days", "ref_attributes", "bridge_attributes_listings",
    },
    "pipeline": {
        "configs", "config_versions", "jobs", "job_configs", "job_files", "job_results", "job_errors",
        "bridge_source_listing", "review_items", "geocode_cache", "api_usage", "listing_match", "listing_edits",
        "listing_info_absence", "images", "image_fetches", "removal_holds", "match_models", "match_labels",
    },
    "staging": {
        "listings", "listing_info", "locations", "contact_info", "listing_images", "opening_dates",
        "opening_hours", "bridge_attributes_listings",
    },
}  # fmt: skip


def _tables(url: str) -> dict[str, set[str]]:
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        return {schema: set(insp.get_table_names(schema=schema)) - {"spatial_ref_sys", "alembic_version"}
                for schema in EXPECTED_TABLES}  # fmt: skip
    finally:
        engine.dispose()


def test_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("postgresql+psycopg://unused/x")).get_heads()
    assert len(heads) == 1


def test_upgrade_downgrade_upgrade(empty_db_url: str) -> None:
    migrate(empty_db_url)
    assert _tables(empty_db_url) == EXPECTED_TABLES
    downgrade(empty_db_url)
    assert _tables(empty_db_url) == {"public": set(), "pipeline": set(), "staging": set()}
    migrate(empty_db_url)
    assert _tables(empty_db_url) == EXPECTED_TABLES

    engine = create_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            extensions = set(conn.execute(text("select extname from pg_extension")).scalars())
            assert {"postgis", "pg_trgm", "btree_gin"} <= extensions
            assert conn.execute(text("select name from public.ref_dmo_types order by id")).scalars().all() == [
                "SCRAPED", "TRAVEL_SITE", "CLIENT", "PARTNER",
            ]  # fmt: skip
            assert conn.execute(text("select count(*) from public.ref_days")).scalar() == 7
            mc = MigrationContext.configure(
                conn, opts={"include_schemas": True, "include_name": include_name, "compare_type": True}
            )
            assert compare_metadata(mc, metadata) == []
    finally:
        engine.dispose()


def test_indexes_the_flow_needs(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        insp = inspect(engine)
        bridge = {ix["name"] for ix in insp.get_indexes("bridge_source_listing", schema="pipeline")}
        assert {"ix_bridge_source_listing_dmo_hash", "ix_bridge_source_listing_hash"} <= bridge
        with engine.connect() as conn:
            defs = dict(
                conn.execute(
                    text("select indexname, indexdef from pg_indexes where schemaname='public'")
                ).all()
            )
        assert "gist" in defs["ix_locations_geog"]
        assert "gin_trgm_ops" in defs["ix_listings_name_trgm"]
    finally:
        engine.dispose()
