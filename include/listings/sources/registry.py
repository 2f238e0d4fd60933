"""Which connector serves which source type. Connectors are imported on first use, so a DAG file or the
config validator never pays for the heavy ones (Scrapy, openpyxl)."""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import cast

from pydantic import BaseModel

from listings.sources.base import Source

CONNECTORS: dict[str, str] = {
    "csv": "listings.sources.csv_source:CsvSource",
    "xls": "listings.sources.xls:XlsSource",
    "wordpress": "listings.sources.wordpress:WordPressSource",
    "drupal": "listings.sources.drupal:DrupalSource",
    "website": "listings.sources.website:WebsiteSource",
    "api": "listings.sources.affiliate:AffiliateApiSource",
    "esri": "listings.sources.esri:EsriSource",
    "here": "listings.sources.here:HereSource",
}


@cache
def get_source(source_type: str) -> Source:
    try:
        module_name, _, class_name = CONNECTORS[source_type].partition(":")
    except KeyError:
        raise ValueError(f"unknown source type {source_type!r} (known: {', '.join(CONNECTORS)})") from None
    return cast(Source, getattr(import_module(module_name), class_name)())


def params_model(source_type: str) -> type[BaseModel]:
    return get_source(source_type).params_model


def default_mappings(source_type: str) -> dict[str, str]:
    return dict(get_source(source_type).default_mappings)
