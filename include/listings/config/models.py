"""Pydantic models of a DMO pipeline config (the seed's `BaseImportConfig` / `pipeline.configs`)."""

from __future__ import annotations

import re
from enum import IntEnum, StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from listings.fields import CANONICAL_FIELDS


class DmoType(StrEnum):
    SCRAPED = "SCRAPED"
    TRAVEL_SITE = "TRAVEL_SITE"
    CLIENT = "CLIENT"
    PARTNER = "PARTNER"

    @property
    def type_id(self) -> int:
        return DmoTypeId[self.value].value


class DmoTypeId(IntEnum):
    """`public.dmos.dmo_type_id` values, as the seed numbers them."""

    SCRAPED = 1
    TRAVEL_SITE = 2
    CLIENT = 3
    PARTNER = 4


class SourceType(StrEnum):
    csv = "csv"
    xls = "xls"
    wordpress = "wordpress"
    drupal = "drupal"
    website = "website"
    api = "api"
    esri = "esri"
    here = "here"


class DataDomain(StrEnum):
    listings = "listings"
    reviews = "reviews"
    events = "events"


class Schedule(StrEnum):
    manual = "manual"
    hourly = "hourly"
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Dmo(BaseModel):
    model_config = _STRICT

    id: int = Field(gt=0)
    name: str = Field(min_length=1)
    dmo_type: DmoType
    country: str
    state: str | None = None

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{2}", v):
            raise ValueError("must be a two-letter ISO 3166-1 country code, e.g. CA")
        return v.upper()

    @field_validator("state")
    @classmethod
    def _state(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not re.fullmatch(r"[A-Za-z0-9]{1,3}", v):
            raise ValueError("must be a short state/province code, e.g. QC")
        return v.upper()


class Removal(BaseModel):
    """When a DMO's listing_info that its source no longer sends is soft-removed (hidden for that DMO,
    `info_status='removed'`): not seen for `after_days` days, or in the last `after_runs` full-snapshot
    runs (whichever comes first). Neither set: never. Incremental runs never remove anything.

    A full snapshot with no valid record, or with fewer than `min_ratio` x the valid records of the DMO's
    last good full snapshot, removes nothing: its sweep is held until an admin releases it (a broken or
    truncated file must not hide the catalogue)."""

    model_config = _STRICT

    after_days: int | None = Field(default=None, gt=0)
    after_runs: int | None = Field(default=None, gt=0)
    min_ratio: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Hold the removal (nothing removed until an admin releases it) when a full snapshot "
        "has fewer than this share of the valid records of the DMO's last good full snapshot (0: only an "
        "empty snapshot is held).",
    )


ImageFormat = Literal["webp", "jpeg"]
IMAGE_FORMATS: tuple[ImageFormat, ...] = ("webp", "jpeg")


class Images(BaseModel):
    """How the images step fetches and processes a DMO's images.

    Private, loopback and link-local addresses are refused unless `allow_private_hosts` (the demo and the
    tests serve images from 127.0.0.1). One Airflow pool per image host: `images_<host>` of `host`, or of
    the source's own host; `pool_slots` of them fetch at once across every DMO sharing the host."""

    model_config = _STRICT

    enabled: bool = True
    host: str | None = None  # the image host, for the pool name (default: the base_url's host)
    pool_slots: int = Field(default=4, ge=1, le=64)
    allow_private_hosts: bool = False
    batch_size: int = Field(default=50, ge=1, le=5000)  # images per mapped task
    max_bytes: int = Field(default=15_000_000, ge=10_000, le=200_000_000)
    timeout_seconds: float = Field(default=15, gt=0, le=300)
    retries: int = Field(default=2, ge=0, le=10)
    min_width: int = Field(default=100, ge=1)
    min_height: int = Field(default=100, ge=1)
    max_pixels: int = Field(default=50_000_000, ge=10_000, le=500_000_000)  # decompression-bomb limit
    renditions: dict[str, int] = Field(default_factory=lambda: {"large": 1600, "medium": 800, "thumb": 200})
    formats: list[ImageFormat] = Field(default_factory=lambda: list(IMAGE_FORMATS), min_length=1)

    @field_validator("renditions")
    @classmethod
    def _renditions(cls, v: dict[str, int]) -> dict[str, int]:
        for name, width in v.items():
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name) or name == "original":
                raise ValueError(
                    f"rendition name {name!r}: lower-case letters, digits, '-', '_' (not 'original')"
                )
            if not 16 <= width <= 8000:
                raise ValueError(f"rendition {name}: width {width} must be in 16..8000 px")
        return v


class DmoConfig(BaseModel):
    """One DMO's pipeline config, as written in YAML and stored in `pipeline.configs`."""

    model_config = _STRICT

    dmo: Dmo
    source_type: SourceType
    data_domain: DataDomain = DataDomain.listings
    schedule: Schedule = Schedule.manual
    active: bool = True
    base_url: HttpUrl | None = None
    # canonical field -> path in the source record (a column name, or dotted: `acf.location.lat`);
    # overrides the connector's default mapping; null removes a default.
    field_mappings: dict[str, str | None] = Field(default_factory=dict)
    config_params: dict[str, Any] = Field(default_factory=dict)
    # this DMO's own category words -> vocabulary id (include/listings/data/categories.yaml); checked first
    category_synonyms: dict[str, str] = Field(default_factory=dict)
    removal: Removal = Field(default_factory=Removal)
    images: Images = Field(default_factory=Images)

    @field_validator("category_synonyms")
    @classmethod
    def _synonyms(cls, v: dict[str, str]) -> dict[str, str]:
        from listings.transform.categories import load_vocabulary

        problems = load_vocabulary().check_synonyms(v)
        if problems:
            raise ValueError("; ".join(problems))
        return v

    @field_validator("field_mappings")
    @classmethod
    def _mappings(cls, v: dict[str, str | None]) -> dict[str, str | None]:
        unknown = sorted(set(v) - set(CANONICAL_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown canonical field(s) {', '.join(unknown)}; allowed: {', '.join(CANONICAL_FIELDS)}"
            )
        empty = sorted(k for k, path in v.items() if path is not None and not str(path).strip())
        if empty:
            raise ValueError(f"empty source field for {', '.join(empty)} (use null to unmap)")
        return v

    @model_validator(mode="after")
    def _params(self) -> DmoConfig:
        from listings.sources.registry import get_source

        source = get_source(self.source_type.value)
        # Validate, and store normalised (defaults filled) so the content hash is stable.
        self.config_params = source.params_model.model_validate(self.config_params).model_dump(mode="json")
        if not self.mappings().get("name"):
            raise ValueError(
                f"field_mappings must map `name` ({self.source_type.value} has no default for it)"
            )
        return self

    def mappings(self) -> dict[str, str]:
        """The effective field mapping: the connector's defaults, overridden by this config."""
        from listings.sources.registry import default_mappings

        merged: dict[str, str | None] = {**default_mappings(self.source_type.value), **self.field_mappings}
        return {k: v for k, v in merged.items() if v}

    @property
    def dag_id(self) -> str:
        return f"dmo_{self.dmo.id}_{self.data_domain.value}"

    def params(self) -> BaseModel:
        from listings.sources.registry import params_model

        return params_model(self.source_type.value).model_validate(self.config_params)

    def document(self) -> dict[str, Any]:
        """The canonical JSON form: what is hashed, versioned, snapshotted and exported."""
        return self.model_dump(mode="json")
