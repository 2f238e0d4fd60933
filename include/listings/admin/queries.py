"""Read-only queries behind the admin pages: the listings search, one listing in full, the image queue.

Sized for a catalogue of a million listings: every list is one page of ids found through an index (or a
bounded scan), then decorated with a second query on those ids only. Offset paging stops at
`MAX_ROWS`; past it a user narrows the search (as search engines do) instead of the database skipping
hundreds of thousands of rows. See each function for the indexes it relies on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from listings.transform.normalize import city_key

LISTING_STATUSES = ("active", "archived", "invalid", "merged")
IMAGE_STATUSES = ("pending", "downloaded", "unchanged", "failed")
SOURCE_TYPES = ("csv", "xls", "wordpress", "drupal", "website", "api", "esri", "here")  # ck_dmos_source_type
PER_PAGE_MAX = 200
# Deepest row a page may start at; beyond it the user narrows the search.
MAX_ROWS = 10_000
TIMELINE_LIMIT = 200

# sort name -> ORDER BY (whitelist: user input never reaches SQL text). The id tie-breaker makes paging
# stable.
LISTING_SORTS: dict[str, str] = {
    "name": "l.name asc nulls last, l.id asc",
    "-name": "l.name desc nulls first, l.id desc",  # both walk ix_listings_name_id (0010), one each way
    "id": "l.id asc",
    "-id": "l.id desc",
    "updated": "l.updated_at asc nulls first, l.id asc",
    "-updated": "l.updated_at desc nulls last, l.id desc",
}


class QueryError(ValueError):
    """A filter, sort or page the queries do not accept; the message names it."""


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """Pages a user can reach: all of them, or as many as MAX_ROWS allows."""
        reachable = min(self.total, MAX_ROWS)
        return max(1, math.ceil(reachable / self.per_page))

    @property
    def truncated(self) -> bool:
        """More rows match than the pages reach."""
        return self.total > MAX_ROWS

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass(frozen=True)
class ListingPage:
    rows: list[dict[str, Any]]
    paging: Paging
    counts_by_status: dict[str, int]
    filters: dict[str, Any] = field(default_factory=dict)
    sort: str = "name"
    counts_capped: bool = False  # filtered counts stop at MAX_ROWS + 1: a count above MAX_ROWS means "more"


@dataclass(frozen=True)
class ListingDetail:
    listing: dict[str, Any]
    infos: list[dict[str, Any]]  # one per listing_info (every DMO, hidden ones too), with contact and images
    timeline: list[dict[str, Any]]  # pipeline.listing_edits, newest first
    # who set each value: {"listing" | listing_info id: {field: {"by": "manual"|"import", ...}}}
    provenance: dict[Any, dict[str, dict[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageQueue:
    rows: list[dict[str, Any]]
    paging: Paging
    counts_by_status: dict[str, int]
    failures_by_reason: dict[str, int]
    job: dict[str, Any] | None  # the job whose outcomes are shown, or None: every image's latest state
    filters: dict[str, Any] = field(default_factory=dict)


def page_args(page: int, per_page: int) -> tuple[int, int]:
    """`page` and `per_page` as asked, or QueryError when either is out of range."""
    if not 1 <= per_page <= PER_PAGE_MAX:
        raise QueryError(f"per_page must be between 1 and {PER_PAGE_MAX}; got {per_page}")
    if page < 1:
        raise QueryError(f"page must be 1 or more; got {page}")
    return page, per_page


def clamp_page(page: int, per_page: int, total: int) -> Paging:
    """The paging of `total` rows, on the last page when `page` is past it."""
    paging = Paging(page, per_page, total)
    return Paging(min(page, paging.pages), per_page, total)


def parse_day(name: str, value: date | str | None) -> date | None:
    """A date filter (YYYY-MM-DD); None or blank is no filter; QueryError naming `name` otherwise."""
    if value is None or isinstance(value, date):
        return value
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise QueryError(f"{name} must be a date (YYYY-MM-DD); got {value!r}") from None


def _like(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# ------------------------------------------------------------------------------------------------
# Listings search
# ------------------------------------------------------------------------------------------------


def _listing_filters(
    *,
    q: str | None,
    dmo_id: int | None,
    category: str | None,
    city: str | None,
    region: str | None = None,
    source: str | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """WHERE clauses (all but the status) over `public.listings l`, and their parameters."""
    where: list[str] = []
    params: dict[str, Any] = {}
    q = (q or "").strip()[:200]
    if q:
        params["pattern"] = _like(q)
        # ix_listings_name_trgm (GIN, pg_trgm) serves ILIKE '%...%'; a number also finds the listing id.
        if q.isdigit() and len(q) < 10:
            where.append("(l.id = :qid or l.name ilike :pattern)")
            params["qid"] = int(q)
        else:
            where.append("l.name ilike :pattern")
    if dmo_id is not None:
        # ix_listing_info_dmo_id_external_source_id: the DMO's listing_info rows, then the listings by key
        where.append(
            "exists (select 1 from public.listing_info li where li.listing_id = l.id and li.dmo_id = :dmo_id)"
        )
        params["dmo_id"] = dmo_id
    if category:
        # ix_listing_info_category_listing_id (migration 0008): the category's rows, then the listings
        where.append(
            "exists (select 1 from public.listing_info li"
            " where li.listing_id = l.id and li.category = :category)"
        )
        params["category"] = category
    if city and city.strip():
        key = city_key(city)
        if not key:
            raise QueryError(f"city: {city!r} has no letters or digits to search for")
        # pipeline.listing_match is the matching index: one row per listing, its city key equality (and
        # the name's trigrams, with a query) in one GIN index, ix_listing_match_city_name.
        inner = "m.city_key = :city_key" + (" and m.name ilike :pattern" if q and not q.isdigit() else "")
        where.append(f"l.id in (select m.listing_id from pipeline.listing_match m where {inner})")
        params["city_key"] = key
    if region and region.strip():
        # the state or province code of the listing's location (by its primary key)
        where.append(
            "exists (select 1 from public.locations loc where loc.id = l.location_id and loc.state = :region)"
        )
        params["region"] = region.strip().upper()[:20]
    if source:
        if source not in SOURCE_TYPES:
            raise QueryError(f"source must be one of {', '.join(SOURCE_TYPES)}; got {source!r}")
        # listings that a DMO of that source type holds (few DMOs: their ids, then the listing_info key)
        where.append(
            "exists (select 1 from public.listing_info li where li.listing_id = l.id and li.dmo_id in"
            " (select d.id from public.dmos d where d.source_type = :source))"
        )
        params["source"] = source
    return where, params


def search_listings(
    conn: Connection,
    *,
    q: str | None = None,
    status: str | None = None,
    dmo_id: int | None = None,
    category: str | None = None,
    city: str | None = None,
    region: str | None = None,
    source: str | None = None,
    page: int = 1,
    per_page: int = 50,
    sort: str = "name",
) -> ListingPage:
    """One page of listings matching every given filter, the number of matches by status (the status
    filter aside), and the total. `q` is a part of the canonical name (or a listing id); `dmo_id` and
    `category` match any of the listing's listing_info rows; `city` compares city keys ("St-Jérôme" finds
    "Saint-Jérôme"); `region` is the location's state code, `source` a source type of a DMO holding it."""
    page, per_page = page_args(page, per_page)
    if status is not None and status not in LISTING_STATUSES:
        raise QueryError(f"status must be one of {', '.join(LISTING_STATUSES)}; got {status!r}")
    if sort not in LISTING_SORTS:
        raise QueryError(f"sort must be one of {', '.join(LISTING_SORTS)}; got {sort!r}")
    where, params = _listing_filters(
        q=q, dmo_id=dmo_id, category=category, city=city, region=region, source=source
    )
    base = " and ".join(where) or "true"

    where_all = base
    counts = _status_counts(conn, base, params)
    counts_by_status = {s: counts.get(s, 0) for s in LISTING_STATUSES}
    total = counts_by_status[status] if status else sum(counts_by_status.values())
    paging = clamp_page(page, per_page, total)

    if status:
        where = [*where, "l.listing_status = :status"]
        params["status"] = status
    ids = [
        int(r[0])
        for r in conn.execute(
            text(
                f"select l.id from public.listings l where {' and '.join(where) or 'true'}"
                f" order by {LISTING_SORTS[sort]} limit :limit offset :offset"
            ),
            {**params, "limit": per_page, "offset": paging.offset},
        )
    ]
    return ListingPage(
        rows=_listing_rows(conn, ids),
        paging=paging,
        counts_by_status=counts_by_status,
        filters={
            "q": q,
            "status": status,
            "dmo_id": dmo_id,
            "category": category,
            "city": city,
            "region": region,
            "source": source,
        },
        sort=sort,
        counts_capped=where_all != "true",
    )


def _status_counts(conn: Connection, base: str, params: Mapping[str, Any]) -> dict[str, int]:
    """Listings by status. Unfiltered: exact (an index-only scan of ix_listings_listing_status). Filtered:
    exact up to MAX_ROWS + 1, the most a user can page through; a larger count shows as "10,000+". One
    bounded subquery per status, each with its status as a literal so that the planner picks, per status,
    the status index or a walk that stops at the cap (a 200k-listing category: 15 ms instead of 600)."""
    if base == "true":
        rows = conn.execute(text("select listing_status, count(*) from public.listings group by 1"))
        return {str(r[0]): int(r[1]) for r in rows}
    parts = " union all ".join(
        f"select '{status}', (select count(*) from (select 1 from public.listings l where {base}"
        f" and l.listing_status = '{status}' limit :count_cap) x)"
        for status in LISTING_STATUSES  # constants, never user input
    )
    rows = conn.execute(text(parts), {**params, "count_cap": MAX_ROWS + 1})
    return {str(r[0]): int(r[1]) for r in rows}


LISTING_ROWS_SQL = """
select l.id, l.name, l.listing_status, l.listing_visible, l.locked_fields, l.merged_into_id, l.updated_at,
       l.manually_modified, loc.city, loc.state, loc.country,
       coalesce(i.dmos, '[]') as dmos, coalesce(i.categories, '{}') as categories
from public.listings l
left join public.locations loc on loc.id = l.location_id
left join lateral (
    select json_agg(json_build_object('id', d.id, 'name', d.name, 'visible', li.info_visible)
                    order by d.name, li.id) as dmos,
           array_remove(array_agg(distinct li.category), null) as categories
    from public.listing_info li
    join public.dmos d on d.id = li.dmo_id
    where li.listing_id = l.id
) as i on true
where l.id = any(:ids)
"""


def _listing_rows(conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    found = {r["id"]: dict(r) for r in conn.execute(text(LISTING_ROWS_SQL), {"ids": list(ids)}).mappings()}
    return [found[i] for i in ids if i in found]


# ------------------------------------------------------------------------------------------------
# One listing
# ------------------------------------------------------------------------------------------------

LISTING_SQL = """
select l.*, loc.address1, loc.address2, loc.city, loc.state, loc.zip, loc.country, loc.lat, loc.lng,
       loc.location_hash
from public.listings l
left join public.locations loc on loc.id = l.location_id
where l.id = :id
"""

INFOS_SQL = """
select li.id, li.dmo_id, d.name as dmo_name, li.name, li.description, li.category, li.source_category,
       li.opening_hours_text, li.info_visible, li.info_status, li.status_reason, li.status_changed_at,
       li.external_source_id, li.last_seen_at, li.last_job_id, li.locked_fields, li.manually_modified,
       li.manually_modified_at, li.manually_modified_by, li.created_at, li.updated_at,
       ci.email, ci.international_phone, ci.local_phone, ci.website_url, ci.facebook_url, ci.instagram_url,
       ci.youtube_url, ci.tiktok_url, ci.twitter_url, ci.pinterest_url, ci.tripadvisor_url, ci.yelp_url
from public.listing_info li
join public.dmos d on d.id = li.dmo_id
left join public.contact_info ci on ci.id = li.contact_info_id
where li.listing_id = :id
order by li.info_visible desc, d.name, li.id
"""

# The pipeline.images row of each shown image (same DMO, same source URL: uq_images_dmo_url) says how its
# last fetch went and is what a re-fetch works on.
IMAGES_SQL = """
select img.id, img.listing_info_id, img.rank, img.image, img.source_url, img.renditions, img.width, img.height,
       pi.id as image_id, pi.status as fetch_status, pi.reason as fetch_reason, pi.checked_at
from public.listing_images img
join public.listing_info li on li.id = img.listing_info_id
left join pipeline.images pi
       on pi.dmo_id = li.dmo_id
      and pi.url_key = encode(sha256(convert_to(coalesce(img.source_url, img.image), 'UTF8')), 'hex')
where li.listing_id = :id
order by img.listing_info_id, img.rank, img.id
"""

TIMELINE_SQL = """
select e.id, e.action, e.field, e.old_value, e.new_value, e.edited_by, e.edited_at, e.listing_info_id,
       e.review_item_id, d.name as dmo_name
from pipeline.listing_edits e
left join public.listing_info li on li.id = e.listing_info_id
left join public.dmos d on d.id = li.dmo_id
where e.listing_id = :id
order by e.id desc
limit :limit
"""


def listing_detail(conn: Connection, listing_id: int) -> ListingDetail | None:
    """The canonical listing with its location, every DMO's listing_info (contact, images with their
    renditions and fetch outcome, locked fields), and its manual-edit timeline; None if there is no such
    listing. All lookups are by key: listing_info by ix_listing_info_listing_id, images by
    ix_listing_images_listing_info_id, edits by ix_listing_edits_listing_id (newest first)."""
    listing = conn.execute(text(LISTING_SQL), {"id": listing_id}).mappings().one_or_none()
    if listing is None:
        return None
    infos = [dict(r) | {"images": []} for r in conn.execute(text(INFOS_SQL), {"id": listing_id}).mappings()]
    by_id = {i["id"]: i for i in infos}
    for image in conn.execute(text(IMAGES_SQL), {"id": listing_id}).mappings():
        row = dict(image)
        row["preview"] = preview_rendition(row["renditions"])
        by_id[row["listing_info_id"]]["images"].append(row)
    timeline = [
        dict(r)
        for r in conn.execute(text(TIMELINE_SQL), {"id": listing_id, "limit": TIMELINE_LIMIT}).mappings()
    ]
    return ListingDetail(
        listing=dict(listing),
        infos=infos,
        timeline=timeline,
        provenance=_provenance(conn, dict(listing), infos),
    )


# The last manual edit of each field of the listing and of its listing_info rows (ix_listing_edits_listing_id).
LAST_EDITS_SQL = """
select distinct on (coalesce(listing_info_id, 0), field) listing_info_id, field, action, edited_by, edited_at
from pipeline.listing_edits
where listing_id = :id and field is not null and action in ('edit', 'accept_source', 'keep_manual')
order by coalesce(listing_info_id, 0), field, id desc
"""
PROVENANCE_JOBS_SQL = """
select j.id, j.dmo_id, d.name as dmo_name, d.source_type, j.trigger, coalesce(j.finished_at, j.started_at) as at
from pipeline.jobs j join public.dmos d on d.id = j.dmo_id
where j.id = any(:ids)
"""


def _provenance(
    conn: Connection, listing: Mapping[str, Any], infos: Sequence[Mapping[str, Any]]
) -> dict[Any, dict[str, dict[str, Any]]]:
    """Who set each value shown: a locked field, the user's edit (or the source's value they accepted);
    any other field, the import job that last wrote the row (its DMO, source type and time)."""
    from listings.admin.curation import INFO_FORM, LOCATION_LABELS

    edits = {
        (r.listing_info_id, r.field): r for r in conn.execute(text(LAST_EDITS_SQL), {"id": listing["id"]})
    }
    job_ids = [j for j in [listing.get("last_job_id"), *(i.get("last_job_id") for i in infos)] if j]
    jobs = {r.id: dict(r._mapping) for r in conn.execute(text(PROVENANCE_JOBS_SQL), {"ids": job_ids})}

    def origin(info_id: int | None, field: str, locked: Sequence[str], job_id: int | None) -> dict[str, Any]:
        edit = edits.get((info_id, field))
        if field in locked and edit is not None:
            return {"by": "manual", "user": edit.edited_by, "at": edit.edited_at, "action": edit.action}
        if job_id in jobs:
            return {"by": "import", **jobs[job_id]}
        return {"by": "unknown"}

    out: dict[Any, dict[str, dict[str, Any]]] = {}
    locked = list(listing.get("locked_fields") or [])
    out["listing"] = {f: origin(None, f, locked, listing.get("last_job_id")) for f in ("name", "location")}
    for field_name in LOCATION_LABELS:  # the location's parts share the lock and the edit of "location"
        out["listing"][field_name] = out["listing"]["location"]
    for info in infos:
        info_locked = list(info.get("locked_fields") or [])
        out[info["id"]] = {f: origin(info["id"], f, info_locked, info.get("last_job_id")) for f in INFO_FORM}
    return out


def preview_rendition(renditions: Mapping[str, Any] | None, size: str = "thumb") -> str | None:
    """The rendition key (`thumb.webp`, else `thumb.jpg`, else any `thumb.*`) to preview an image with."""
    keys = list(renditions or {})
    for key in (f"{size}.webp", f"{size}.jpg", f"{size}.jpeg"):
        if key in keys:
            return key
    return next((k for k in sorted(keys) if k.startswith(f"{size}.")), None)


# ------------------------------------------------------------------------------------------------
# Image queue
# ------------------------------------------------------------------------------------------------

IMAGE_COLUMNS = """
i.id, i.dmo_id, d.name as dmo_name, i.url, i.status, i.reason, i.detail, i.http_status, i.attempts,
i.width, i.height, i.bytes, i.content_type, i.listing_id, i.canonical_url, i.renditions, i.checked_at,
i.fetched_at, i.last_job_id
"""


def image_queue(
    conn: Connection,
    *,
    job_id: int | None = None,
    dmo_id: int | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> ImageQueue:
    """Image outcomes, newest first, with counts by status and failures by reason.

    With `job_id`: what that job did with each of its images (`pipeline.image_fetches`, by
    ix_image_fetches_job_id). Without: every image's latest state (`pipeline.images`; with a DMO, by
    ix_images_status (dmo_id, status)). `status` filters on the outcome shown."""
    page, per_page = page_args(page, per_page)
    if status is not None and status not in IMAGE_STATUSES:
        raise QueryError(f"status must be one of {', '.join(IMAGE_STATUSES)}; got {status!r}")
    filters = {"job_id": job_id, "dmo_id": dmo_id, "status": status}
    params: dict[str, Any] = {"job_id": job_id, "dmo_id": dmo_id, "status": status}
    if job_id is not None:
        job = conn.execute(
            text(
                "select j.id, j.dmo_id, d.name as dmo_name, j.status, j.created_at, j.finished_at"
                " from pipeline.jobs j join public.dmos d on d.id = j.dmo_id where j.id = :job_id"
            ),
            params,
        ).mappings().one_or_none()  # fmt: skip
        if job is None:
            raise QueryError(f"no job {job_id}")
        source = "pipeline.image_fetches f join pipeline.images i on i.id = f.image_id"
        where = ["f.job_id = :job_id"] + (["i.dmo_id = :dmo_id"] if dmo_id is not None else [])
        outcome = "f"
    else:
        job = None
        source = "pipeline.images i"
        where = ["i.dmo_id = :dmo_id"] if dmo_id is not None else []
        outcome = "i"
    base = " and ".join(where) or "true"
    grouped = conn.execute(
        text(
            f"select {outcome}.status, {outcome}.reason, count(*) as n from {source} where {base} group by 1, 2"
        ),
        params,
    ).all()
    counts_by_status = {s: 0 for s in IMAGE_STATUSES}
    failures_by_reason: dict[str, int] = {}
    for row in grouped:
        counts_by_status[str(row.status)] = counts_by_status.get(str(row.status), 0) + int(row.n)
        if row.status == "failed":
            reason = str(row.reason or "unknown")
            failures_by_reason[reason] = failures_by_reason.get(reason, 0) + int(row.n)
    total = counts_by_status.get(status, 0) if status else sum(counts_by_status.values())
    paging = clamp_page(page, per_page, total)
    if status:
        where = [*where, f"{outcome}.status = :status"]
    fetch_columns = (
        ", f.id as fetch_id, f.status as fetch_status, f.reason as fetch_reason, f.detail as fetch_detail,"
        " f.http_status as fetch_http_status, f.elapsed_ms, f.created_at as fetched_in_job_at"
        if job is not None
        else ""
    )
    # Newest first: the primary key's order, so a page stops reading after `limit` rows.
    order = f"{outcome}.id desc"
    rows = [
        dict(r) | {"preview": preview_rendition(r["renditions"])}
        for r in conn.execute(
            text(
                f"select {IMAGE_COLUMNS}{fetch_columns} from {source} join public.dmos d on d.id = i.dmo_id"
                f" where {' and '.join(where) or 'true'} order by {order} limit :limit offset :offset"
            ),
            {**params, "limit": per_page, "offset": paging.offset},
        ).mappings()
    ]
    return ImageQueue(
        rows=rows,
        paging=paging,
        counts_by_status=counts_by_status,
        failures_by_reason=dict(sorted(failures_by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
        job=dict(job) if job is not None else None,
        filters=filters,
    )


def image_jobs(conn: Connection, *, dmo_id: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The latest jobs that fetched images (newest first), for the image page's job picker."""
    return [
        dict(r)
        for r in conn.execute(
            text(
                "select j.id, j.dmo_id, d.name as dmo_name, j.status, j.created_at from pipeline.jobs j"
                " join public.dmos d on d.id = j.dmo_id"
                " where (cast(:dmo_id as integer) is null or j.dmo_id = :dmo_id)"
                " and exists (select 1 from pipeline.image_fetches f where f.job_id = j.id)"
                " order by j.id desc limit :limit"
            ),
            {"dmo_id": dmo_id, "limit": limit},
        ).mappings()
    ]


def stored_image_url(
    conn: Connection,
    *,
    image_id: int | None = None,
    listing_image_id: int | None = None,
    rendition: str | None = None,
) -> str | None:
    """The stored object URL (`file://...` or `s3://...`) of an image (`pipeline.images`) or a shown image
    (`public.listing_images`): its rendition when one is named, else the stored original. None if there
    is no such image, rendition or stored copy."""
    if (image_id is None) == (listing_image_id is None):
        raise QueryError("give an image_id or a listing_image_id")
    if image_id is not None:
        sql = "select canonical_url as url, renditions from pipeline.images where id = :id"
    else:
        sql = "select image as url, renditions from public.listing_images where id = :id"
    row = conn.execute(
        text(sql), {"id": image_id if image_id is not None else listing_image_id}
    ).one_or_none()
    if row is None:
        return None
    if rendition:
        value = (row.renditions or {}).get(rendition)
        return str(value) if value else None
    return str(row.url) if row.url and str(row.url).startswith(("file://", "s3://")) else None


# ------------------------------------------------------------------------------------------------
# Filter choices
# ------------------------------------------------------------------------------------------------


def region_choices(conn: Connection) -> list[str]:
    """The state codes of the DMOs (suggestions for the region filter; any code can be typed)."""
    return [
        str(r[0])
        for r in conn.execute(
            text("select distinct upper(state) from public.dmos where state is not null order by 1")
        )
    ]


def dmo_choices(conn: Connection) -> list[dict[str, Any]]:
    return [
        dict(r) for r in conn.execute(text("select id, name from public.dmos order by name, id")).mappings()
    ]


def category_choices() -> list[tuple[str, str]]:
    """(vocabulary id, English label), in the vocabulary's order."""
    from listings.transform.categories import load_vocabulary

    vocab = load_vocabulary()
    return [(c, vocab.label(c)) for c in vocab.ids]
