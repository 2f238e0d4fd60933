"""Pydantic models of a DMO pipeline config (the seed's `BaseImportConfig` / `pipeline.configs`)."""

from __future__ import annotations

import re
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator


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


# The canonical fields a source field can be mapped to.
CANONICAL_FIELDS: tuple[str, ...] = (
    "source_id",
    "name",
    "description",
    "category",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "country",
    "lat",
    "lng",
    "phone",
    "email",
    "website",
    "facebook",
    "instagram",
    "youtube",
    "tiktok",
    "twitter",
    "pinterest",
    "tripadvisor",
    "yelp",
    "opening_hours",
    "images",
)

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


class CsvParams(BaseModel):
    """`config_params` of a csv source."""

    model_config = _STRICT

    file: str | None = Field(
        default=None, description="Path of the uploaded file (relative: to the project dir)."
    )
    encoding: str | None = Field(default=None, description="Force an encoding instead of detecting it.")
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    image_separator: str = Field(default="|", min_length=1)


PARAMS_MODELS: dict[SourceType, type[BaseModel]] = {SourceType.csv: CsvParams}


class DmoConfig(BaseModel):
    """One DMO's pipeline config, as written in YAML and stored in `pipeline.configs`."""

    model_config = _STRICT

    dmo: Dmo
    source_type: SourceType
    data_domain: DataDomain = DataDomain.listings
    schedule: Schedule = Schedule.manual
    active: bool = True
    base_url: HttpUrl | None = None
    field_mappings: dict[str, str] = Field(default_factory=dict)
    config_params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("field_mappings")
    @classmethod
    def _mappings(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(CANONICAL_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown canonical field(s) {', '.join(unknown)}; allowed: {', '.join(CANONICAL_FIELDS)}"
            )
        empty = sorted(k for k, col in v.items() if not str(col).strip())
        if empty:
            raise ValueError(f"empty source field for {', '.join(empty)}")
        return v

    @model_validator(mode="after")
    def _params(self) -> DmoConfig:
        model = PARAMS_MODELS.get(self.source_type)
        if model is not None:
            # Validate, and store normalised (defaults filled) so the content hash is stable.
            self.config_params = model.model_validate(self.config_params).model_dump(mode="json")
        if self.source_type in (SourceType.csv, SourceType.xls) and "name" not in self.field_mappings:
            raise ValueError("field_mappings must map `name` for file sources")
        return self

    @property
    def dag_id(self) -> str:
        return f"dmo_{self.dmo.id}_{self.data_domain.value}"

    def params(self) -> BaseModel | None:
        model = PARAMS_MODELS.get(self.source_type)
        return model.model_validate(self.config_params) if model else None

    def document(self) -> dict[str, Any]:
        """The canonical JSON form: what is hashed, versioned, snapshotted and exported."""
        return self.model_dump(mode="json")
