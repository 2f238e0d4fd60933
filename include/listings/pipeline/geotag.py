"""Conditional geotagging in transform: only records with no coordinates and no deterministic match are
geocoded (a matched record's listing already has its location), through the cache and the budgets of
`listings.geocode`. A record that cannot be geotagged is kept, without coordinates, and flagged."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from listings.geocode import GeocodeQuery
from listings.settings import get_settings
from listings.sources.base import SourceError
from listings.transform.records import CanonicalRecord

log = logging.getLogger(__name__)


def geotag_records(records: Sequence[CanonicalRecord], matched: set[str], job_id: int) -> dict[str, Any]:
    """Geocode the records that need it, in place; returns the run's usage counts."""
    todo = [r for r in records if r.values.get("lat") is None and r.record_hash not in matched]
    if not todo:
        return {"needed": 0}
    settings = get_settings()
    if not settings.geotag:
        return {"needed": len(todo), "disabled": True}
    from listings.db.engine import get_engine
    from listings.geocode.places import GooglePlacesClient, get_api_key
    from listings.geocode.service import Geotagger

    try:
        key = get_api_key(settings.geocoder_conn_id)
    except SourceError as exc:
        log.warning("geotagging off for job %s: %s", job_id, exc)
        for r in todo:
            r.flags.append(
                f"not_geotagged: no Places API key (Airflow connection {settings.geocoder_conn_id!r})"
            )
        return {"needed": len(todo), "unavailable": str(exc)}
    client = GooglePlacesClient(
        settings.geocoder_url, api_key=key, min_interval_seconds=settings.geocode_min_interval_ms / 1000
    )
    tagger = Geotagger(
        get_engine(),
        client,
        per_run_budget=settings.geocode_run_budget,
        per_day_budget=settings.geocode_day_budget,
        job_id=job_id,
    )
    statuses: dict[str, int] = {}
    for r in todo:
        v = r.values
        query = GeocodeQuery(
            name=v.get("name"), address=v.get("address1"), city=v.get("city"), state=v.get("state"),
            zip=v.get("zip"), country=v.get("country") or "CA",
        )  # fmt: skip
        if not query.searchable():
            r.flags.append("not_geotagged: not enough address to search")
            statuses["unsearchable"] = statuses.get("unsearchable", 0) + 1
            continue
        result = tagger.geocode(query)
        statuses[result.status] = statuses.get(result.status, 0) + 1
        if result.ok and result.lat is not None and result.lng is not None:
            v["lat"], v["lng"] = f"{result.lat:.7f}", f"{result.lng:.7f}"
            v["geotag"] = {
                "provider": result.provider,
                "place_id": result.place_id,
                "from_cache": result.from_cache,
            }
            r.flags.append("geotagged" + (" (cache)" if result.from_cache else ""))
        else:
            r.flags.append(f"not_geotagged: {result.status}{': ' + result.message if result.message else ''}")
    return {"needed": len(todo), "statuses": statuses, **tagger.stats().as_dict()}
