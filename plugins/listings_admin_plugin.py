"""The Airflow plugin of the listings admin UI: mounts `listings_admin.main:app` on the Airflow API
server at /listings-admin and lists its pages in the Airflow navigation under one menu, "Listings".

Airflow loads every .py file of the plugins folder as a loose module; `.airflowignore` keeps it out of
the `listings_admin` package, which this module imports as a package (the plugins folder is on sys.path).
Every Airflow process loads plugins (each task, for macros): this module stays cheap to import, and the
app itself (`listings_admin.main:app`) is imported on the API server's first request to it.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin
from listings_admin.lazy import LazyApp

URL_PREFIX = "/listings-admin"
CATEGORY = "Listings"

FASTAPI_APPS: list[dict[str, Any]] = [
    {"app": LazyApp("listings_admin.main:app"), "url_prefix": URL_PREFIX, "name": "Listings admin"}
]
PAGES = (  # (menu name, path under URL_PREFIX, url_route inside the Airflow UI), in menu order
    ("Listings", "/listings", "listings"),
    ("Review", "/review", "listing-review"),
    ("Matching", "/bridge", "listing-matching"),
    ("DMOs", "/dmos", "listing-dmos"),
    ("Schedule", "/schedule", "listing-schedule"),
    ("Jobs", "/jobs", "listing-jobs"),
    ("Files", "/files", "listing-files"),
    ("Images", "/images", "listing-images"),
    ("Soft-deleted", "/soft-deleted", "listing-soft-deleted"),
    ("Health", "/health", "listing-health"),
)
# With url_route, Airflow shows the page inside its own UI (an iframe at /plugin/<url_route>).
EXTERNAL_VIEWS: list[dict[str, Any]] = [
    {
        "name": name,
        "href": f"{URL_PREFIX}{path}",
        "url_route": route,
        "destination": "nav",
        "category": CATEGORY,
    }
    for name, path, route in PAGES
]


class ListingsAdminPlugin(AirflowPlugin):
    name = "listings_admin"
    fastapi_apps = FASTAPI_APPS
    external_views = EXTERNAL_VIEWS
