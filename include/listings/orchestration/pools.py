"""Airflow pools: one per target host (its slots are the config's `concurrency`), plus the promotion pool.

Pools must exist before a task uses them. They are created when a config is applied (through Airflow's
REST API, when one is configured) and whenever Airflow is set up (`airflow pools import` of the file that
`pools_document` builds: `listings airflow start`, docker-compose's airflow-init).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from listings.config.models import DmoConfig

log = logging.getLogger(__name__)

PROMOTION_POOL = "listings_promotion"
FIXED_POOLS = {PROMOTION_POOL: (1, "dbt promotion into public: one job at a time")}


def _host(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"//{url}")
    host = (parts.hostname or "").lower()
    if parts.port and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host += f":{parts.port}"
    return re.sub(r"[^a-z0-9]+", "_", host).strip("_")


def host_pool(config: DmoConfig) -> str | None:
    """`site_<host>` for a config that fetches from a site; None for uploads."""
    if config.base_url is None:
        return None
    return "site_" + _host(str(config.base_url))


def image_pool(config: DmoConfig) -> str:
    """`images_<host>`: the DMO's image host (`images.host`, else its site's host), `images_default` for
    an upload that names none. Airflow gives a mapped task one pool: images of a DMO on other hosts share it."""
    host = config.images.host or (str(config.base_url) if config.base_url else None)
    return f"images_{_host(host)}" if host else "images_default"


def pools_document(configs: Iterable[DmoConfig]) -> dict[str, dict[str, Any]]:
    """Every pool the configs need, as `airflow pools import` reads it. A host shared by several DMOs
    gets the smallest concurrency any of them asks for (the politest)."""
    slots: dict[str, int] = {}
    for config in configs:
        pool = host_pool(config)
        if pool:
            concurrency = int(config.config_params.get("concurrency", 1))
            slots[pool] = min(slots.get(pool, concurrency), concurrency)
        if config.images.enabled:
            pool = image_pool(config)
            slots[pool] = min(slots.get(pool, config.images.pool_slots), config.images.pool_slots)
    doc = {
        name: {"slots": n, "description": desc, "include_deferred": False}
        for name, (n, desc) in FIXED_POOLS.items()
    }
    for pool, n in sorted(slots.items()):
        kind, _, host = pool.partition("_")
        doc[pool] = {
            "slots": n,
            "description": f"{'image ' if kind == 'images' else ''}requests to {host}: per-host politeness",
            "include_deferred": False,
        }
    return doc


def active_pools_document() -> dict[str, dict[str, Any]]:
    """The pools the active configs in the database need."""
    from listings.config.store import list_configs
    from listings.db.engine import get_engine

    with get_engine().connect() as conn:
        return pools_document(s.config for s in list_configs(conn, active_only=True))


def sync_pools_rest(
    doc: dict[str, dict[str, Any]], api_url: str, user: str | None, password: str | None
) -> list[str]:
    """Create or update pools through Airflow's REST API; returns the pool names written."""
    import requests

    if not user or not password:
        raise ValueError("set LISTINGS_AIRFLOW_API_USER and LISTINGS_AIRFLOW_API_PASSWORD (no default login)")

    token = requests.post(f"{api_url}/auth/token", json={"username": user, "password": password}, timeout=10)
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    written = []
    for name, spec in doc.items():
        body = {
            "name": name,
            "slots": spec["slots"],
            "description": spec["description"],
            "include_deferred": False,
        }
        res = requests.patch(f"{api_url}/api/v2/pools/{name}", json=body, headers=headers, timeout=10)
        if res.status_code == 404:
            res = requests.post(f"{api_url}/api/v2/pools", json=body, headers=headers, timeout=10)
        res.raise_for_status()
        written.append(name)
    return written
