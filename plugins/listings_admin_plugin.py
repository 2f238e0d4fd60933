"""The Airflow plugin of the listings admin UI (issue 7): mounts `listings_admin.app` on the Airflow API
server at /listings-admin and lists its pages in the Airflow navigation under one menu, "Listings".

Airflow loads every .py file of the plugins folder as a loose module; `.airflowignore` keeps it out of
the `listings_admin` package, which this module imports as a package (the plugins folder is on sys.path).
Every Airflow process loads plugins (each task, for macros): this module stays cheap to import, and the
app itself (`listings_admin.app:app`) is imported on the API server's first request to it.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin
from listings_admin.lazy import LazyApp

URL_PREFIX = "/listings-admin"
CATEGORY = "Listings"

FASTAPI_APPS: list[dict[str, Any]] = [
    {"app": LazyApp("listings_admin.app:app"), "url_prefix": URL_PREFIX, "name": "Listings admin"}
]
# With url_route, Airflow shows the page inside its own UI (an iframe at /plugin/<url_route>).
EXTERNAL_VIEWS: list[dict[str, Any]] = [
    {
        "name": "Listings",
        "href": f"{URL_PREFIX}/listings",
        "url_route": "listings",
        "destination": "nav",
        "category": CATEGORY,
    },
    {
        "name": "Images",
        "href": f"{URL_PREFIX}/images",
        "url_route": "listing-images",
        "destination": "nav",
        "category": CATEGORY,
    },
    {
        "name": "DMOs",
        "href": f"{URL_PREFIX}/dmos",
        "url_route": "listing-dmos",
        "destination": "nav",
        "category": CATEGORY,
    },
    {
        "name": "Jobs",
        "href": f"{URL_PREFIX}/jobs",
        "url_route": "listing-jobs",
        "destination": "nav",
        "category": CATEGORY,
    },
    {
        "name": "Soft-deleted",
        "href": f"{URL_PREFIX}/soft-deleted",
        "url_route": "listing-soft-deleted",
        "destination": "nav",
        "category": CATEGORY,
    },
    {
        "name": "Review",
        "href": f"{URL_PREFIX}/review",
        "url_route": "listing-review",
        "destination": "nav",
        "category": CATEGORY,
    },
]


class ListingsAdminPlugin(AirflowPlugin):
    name = "listings_admin"
    fastapi_apps = FASTAPI_APPS
    external_views = EXTERNAL_VIEWS
