"""The one settings object: every knob of the pipeline, read from `LISTINGS_*` environment variables."""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parents[2]


class Environment(StrEnum):
    dev = "dev"
    staging = "staging"
    app = "app"


class Settings(BaseSettings):
    """Runtime configuration. Unset values fall back to the embedded, single-machine defaults."""

    model_config = SettingsConfigDict(env_prefix="LISTINGS_", extra="ignore")

    home: Path = Field(default=Path(".listings"), description="Data folder: local database, objects, logs.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the listings database; unset means the project-local PostgreSQL.",
    )
    storage_url: str | None = Field(
        default=None, description="Object storage root: file:///path or s3:// (default file://$home/objects)."
    )
    storage_conn_id: str = Field(
        default="listings_s3", description="Airflow connection with the S3 credentials and endpoint_url."
    )
    env: Environment = Field(
        default=Environment.dev, description="Deployment environment, part of bucket names."
    )
    project_dir: Path = Field(default=PROJECT_DIR, description="Checkout root: dbt/, include/config/ ...")
    dbt_work_dir: Path | None = Field(
        default=None,
        description="dbt's target and log folder (default $home/dbt). dbt keeps its parsed project there"
        " and re-parses only what changed (or everything when the database connection changed).",
    )
    airflow_api_url: str | None = Field(
        default=None,
        description="Airflow API server, e.g. http://127.0.0.1:8080: config apply syncs pools there.",
    )
    match_auto_threshold: float = Field(
        default=0.8, ge=0, le=1, description="Confidence above which a match auto-merges."
    )
    match_review_threshold: float = Field(
        default=0.35, ge=0, le=1, description="Confidence from which a match is reviewed."
    )
    match_margin: float = Field(
        default=0.1, ge=0, le=1, description="Candidates this close to the best go to review."
    )
    match_learn_min_pairs: int = Field(
        default=0,
        ge=0,
        description="Candidate pairs from which a run re-estimates the match model by EM on its own pairs;"
        " 0: never (the stored model, else the defaults). Off by default: on the real-data bench one run's"
        " EM lost half the recall (tx_hospitals 0.92 -> 0.47).",
    )
    match_workers: int = Field(
        default=2, ge=1, le=32, description="Processes matching a job's chunks in parallel."
    )
    geotag: bool = Field(default=True, description="Geocode records with no coordinates and no match.")
    geocoder_url: str = Field(
        default="https://maps.googleapis.com", description="Google Places API base URL."
    )
    geocoder_conn_id: str = Field(
        default="google_places", description="Airflow connection with the Places key."
    )
    geocode_min_interval_ms: int = Field(
        default=100, ge=0, description="Minimum time between two Places calls."
    )
    geocode_run_budget: int = Field(default=1000, ge=0, description="Places calls allowed per job.")
    geocode_day_budget: int = Field(default=10000, ge=0, description="Places calls allowed per day (UTC).")
    job_stale_after_seconds: int = Field(
        default=3600,
        ge=60,
        description="An in_progress job without a heartbeat for this long (and no live process or Airflow "
        "run to say otherwise) is reaped as stale.",
    )
    job_heartbeat_seconds: float = Field(
        default=30, gt=0, le=3600, description="How often a running step refreshes its job's heartbeat."
    )
    csv_max_field_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest CSV value (UTF-8 bytes); a row with a larger one is a `field_too_large` error.",
    )
    airflow_api_user: str | None = Field(
        default=None, description="Login the admin UI and `config apply` use on Airflow's REST API."
    )
    airflow_api_password: str | None = Field(default=None, description="Its password (no default).")
    import_roots: str | None = Field(
        default=None,
        description="Folders (separated by ':') that configs and run confs may name files in, besides the "
        "uploads folder; default: the project's bundled samples (include/samples).",
    )
    max_import_bytes: int = Field(
        default=1_000_000_000, ge=1, description="Largest file a CSV/XLS/Esri/HERE import reads."
    )
    admin_allowed_origins: str = Field(
        default="",
        description="Comma-separated origins (https://airflow.example.com) whose pages may change data in the "
        "admin UI besides its own; for a proxy that hides the public scheme or host from Airflow.",
    )

    @model_validator(mode="after")
    def _resolve(self) -> Settings:
        self.home = self.home.expanduser().resolve()
        if not self.storage_url:
            self.storage_url = (self.home / "objects").as_uri()
        if not self.storage_url.startswith(("file://", "s3://")):
            raise ValueError(
                f"LISTINGS_STORAGE_URL must start with file:// or s3://, got {self.storage_url!r}"
            )
        return self

    @property
    def pg_dir(self) -> Path:
        return self.home / "pg"

    @property
    def dbt_project_dir(self) -> Path:
        return self.project_dir / "dbt"

    @property
    def dbt_work_path(self) -> Path:
        return (self.dbt_work_dir or self.home / "dbt").expanduser().resolve()

    @property
    def uploads_dir(self) -> Path:
        return self.home / "uploads"

    def import_root_paths(self) -> list[Path]:
        """Where a file source may read: the uploads folder, then `import_roots` (default: the samples)."""
        configured = [Path(p).expanduser() for p in (self.import_roots or "").split(os.pathsep) if p.strip()]
        roots = configured or [self.project_dir / "include" / "samples"]
        return [self.uploads_dir, *(r if r.is_absolute() else self.project_dir / r for r in roots)]

    @property
    def dmo_config_dir(self) -> Path:
        return self.project_dir / "include" / "config" / "dmos"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
