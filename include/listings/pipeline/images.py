"""The images step: between staging and matching, fetch and process every image the
job's records point to, store the originals and renditions, and give staging their canonical URLs.

It is three functions so that Airflow can map the middle one over batches (dynamic task mapping):

- `plan(job_id)`: registers the job's image URLs in `pipeline.images` (one row per DMO and URL), reserves
  the listing id of each record that has no listing yet (its images are stored under it; promotion
  creates the listing with it), and cuts the images into batches of id ranges;
- `run_batch(job_id, first_id, last_id)`: fetches each image of the range (a conditional GET when a good
  copy is stored: an unchanged image is not downloaded again), validates and re-encodes it, stores it at
  `{env}-trippl-images/{country}/{state}/{dmo_id}/{listing_id}/{filename}.{ext}` (identical content is
  stored once), and records the outcome per image; one bad image never stops the batch;
- `finish(job_id)`: copies the outcomes into `staging.listing_images` and each record's `images_hash`,
  which promotion compares to decide whether the listing_info's images change.

`refetch(...)` fetches one image, or every image of a listing, again by hand (the admin's button).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, text

from listings.config.models import DmoConfig
from listings.db.engine import get_engine
from listings.images.fetch import Fetched, FetchLimits, fetch_image, image_session
from listings.images.process import ImageRejected, ImageRules, Processed, Rendition, process_image
from listings.pipeline import jobs
from listings.settings import get_settings
from listings.storage import ImageKey, ObjectStore, safe_filename

log = logging.getLogger(__name__)

# Airflow refuses to map a task over more than `max_map_length` (1024 by default) inputs.
MAX_BATCHES = 1000
# Failures that say nothing about the image itself: a stored copy stays in use.
TRANSIENT = frozenset({"timeout", "connection", "http_error", "host_unreachable", "error"})
# Connection failures in a row after which a batch stops calling a host.
HOST_FAILURES = 3


# ------------------------------------------------------------------------------------------------
# Settings from the DMO config
# ------------------------------------------------------------------------------------------------


def fetch_limits(config: DmoConfig) -> FetchLimits:
    images = config.images
    return FetchLimits(
        max_bytes=images.max_bytes,
        read_timeout=images.timeout_seconds,
        total_timeout=max(60.0, images.timeout_seconds * 4),
        retries=images.retries,
        allow_private=images.allow_private_hosts,
    )


def image_rules(config: DmoConfig) -> ImageRules:
    images = config.images
    return ImageRules(
        min_width=images.min_width,
        min_height=images.min_height,
        max_pixels=images.max_pixels,
        renditions=tuple(Rendition(name, width) for name, width in images.renditions.items()),
        formats=tuple(images.formats),
    )


# ------------------------------------------------------------------------------------------------
# plan
# ------------------------------------------------------------------------------------------------

REGISTER_SQL = """
insert into pipeline.images (dmo_id, url, url_key, first_job_id, last_job_id)
select :dmo, u.url, encode(sha256(convert_to(u.url, 'UTF8')), 'hex'), :j, :j
from (
    select distinct image as url from staging.listing_images where job_id = :j
) as u
-- host first: a batch then holds few hosts, and gives up early on one that does not answer
order by substring(u.url from '^[a-z]+://([^/?#]*)'), u.url
on conflict (dmo_id, url_key) do update set last_job_id = excluded.last_job_id
"""

LINK_SQL = """
update staging.listing_images as si
set image_id = i.id
from pipeline.images as i
where si.job_id = :j and i.dmo_id = :dmo and i.url_key = encode(sha256(convert_to(si.image, 'UTF8')), 'hex')
"""

RESERVE_SQL = """
update staging.listings
set reserved_listing_id = nextval(pg_get_serial_sequence('public.listings', 'id'))
where job_id = :j and listing_id is null and reserved_listing_id is null
"""


@dataclass(frozen=True)
class Batch:
    job_id: int
    first_id: int
    last_id: int

    def as_dict(self) -> dict[str, int]:
        return {"job_id": self.job_id, "first_id": self.first_id, "last_id": self.last_id}


def plan(job_id: int) -> list[Batch]:
    """Register the job's images, reserve listing ids, and cut batches (none when images are off)."""
    with get_engine().begin() as conn:
        job = jobs.load_job(conn, job_id)
        if not job.config.images.enabled or job.promoted_at is not None:
            return []
        params = {"j": job_id, "dmo": job.dmo_id}
        conn.execute(text(RESERVE_SQL), params)
        conn.execute(text(REGISTER_SQL), params)
        conn.execute(text(LINK_SQL), params)
        ids = [
            int(r[0])
            for r in conn.execute(
                text("select distinct image_id from staging.listing_images where job_id = :j order by 1"),
                params,
            )
        ]
    size = max(job.config.images.batch_size, math.ceil(len(ids) / MAX_BATCHES))
    return [
        Batch(job_id, chunk[0], chunk[-1]) for chunk in (ids[i : i + size] for i in range(0, len(ids), size))
    ]


# ------------------------------------------------------------------------------------------------
# run_batch
# ------------------------------------------------------------------------------------------------

# Each image of the range that this job uses, with the listing (or reserved id) of the first record of the
# job that shows it: its folder. The country and state folders are the DMO's, as for the data files.
BATCH_SQL = """
select i.id, i.url, i.status, i.reason, i.etag, i.last_modified, i.sha256, i.canonical_url, t.listing_id
from pipeline.images as i
cross join lateral (
    select coalesce(l.listing_id, l.reserved_listing_id) as listing_id
    from staging.listing_images as si
    join staging.listings as l on l.job_id = si.job_id and l.record_no = si.record_no
    where si.job_id = :j and si.image_id = i.id
    order by si.record_no, si.rank
    limit 1
) as t
where i.dmo_id = :dmo and i.id between :first and :last
order by i.id
"""


@dataclass
class Outcome:
    image_id: int
    status: str  # downloaded | unchanged | failed
    reason: str | None = None
    detail: str | None = None
    fetched: Fetched | None = None
    processed: Processed | None = None
    canonical_url: str | None = None
    renditions: dict[str, str] | None = None
    listing_id: int | None = None


def run_batch(
    job_id: int, first_id: int, last_id: int, *, store: ObjectStore | None = None
) -> dict[str, int]:
    """Fetch, validate, store and record every image of the batch; returns counts by status."""
    from listings.storage import get_store

    store = store or get_store()
    engine = get_engine()
    with engine.connect() as conn:
        job = jobs.load_job(conn, job_id)
        rows = (
            conn.execute(
                text(BATCH_SQL), {"j": job_id, "dmo": job.dmo_id, "first": first_id, "last": last_id}
            )
            .mappings()
            .all()
        )
    limits, rules = fetch_limits(job.config), image_rules(job.config)
    failures: Counter[str] = Counter()  # connection failures in a row, per host
    counts: Counter[str] = Counter()
    with image_session(limits) as session:  # checks the address each connection reaches, too
        for row in rows:
            host = (urlsplit(row["url"]).hostname or "").lower()
            if failures[host] >= HOST_FAILURES:
                outcome = Outcome(
                    row["id"], "failed", "host_unreachable",
                    f"{host} failed {HOST_FAILURES} times in a row in this batch: not tried",
                )  # fmt: skip
            else:  # a host that failed once in this batch is not retried per image
                tries = limits if failures[host] == 0 else replace(limits, retries=0)
                outcome = fetch_one(row, job.config, tries, rules, store, session=session)
                unreachable = outcome.reason in ("timeout", "connection")
                failures[host] = failures[host] + 1 if unreachable else 0
            with engine.begin() as conn:
                record(conn, outcome, job_id=job_id)
            counts[outcome.status] += 1
    log.info("job %s images %s..%s: %s", job_id, first_id, last_id, dict(counts))
    return dict(counts)


def fetch_one(
    row: Any,
    config: DmoConfig,
    limits: FetchLimits,
    rules: ImageRules,
    store: ObjectStore,
    *,
    session: Any = None,
    force: bool = False,
) -> Outcome:
    """One image: a conditional GET when a good copy is stored (unless `force`), then validate, re-encode
    and store. Never raises for a bad image: the outcome says what went wrong."""
    image_id = int(row["id"])
    stored = row["canonical_url"] is not None and row["sha256"] is not None
    try:
        fetched = fetch_image(
            row["url"],
            limits=limits,
            etag=row["etag"] if stored and not force else None,
            last_modified=row["last_modified"] if stored and not force else None,
            session=session,
        )
        if fetched.status == "unchanged":
            return Outcome(image_id, "unchanged", fetched=fetched)
        if fetched.status == "failed" or fetched.content is None:
            return Outcome(image_id, "failed", fetched.reason, fetched.detail, fetched=fetched)
        try:
            processed = process_image(fetched.content, rules=rules)
        except ImageRejected as exc:
            return Outcome(image_id, "failed", exc.reason, exc.detail, fetched=fetched)
        if stored and processed.sha256 == row["sha256"]:  # no validators, same bytes: nothing to store
            return Outcome(image_id, "unchanged", fetched=fetched, processed=processed)
        return _store(row, config, fetched, processed, store)
    except Exception as exc:  # an unforeseen failure of one image must not stop the batch
        log.exception("image %s (%s) failed", image_id, row["url"])
        return Outcome(image_id, "failed", "error", f"{type(exc).__name__}: {exc}")


def _store(
    row: Any, config: DmoConfig, fetched: Fetched, processed: Processed, store: ObjectStore
) -> Outcome:
    image_id = int(row["id"])
    with get_engine().connect() as conn:  # identical content (any DMO, any URL) is stored once
        same = conn.execute(
            text(
                "select canonical_url, renditions, listing_id from pipeline.images"
                " where sha256 = :s and canonical_url is not null order by id limit 1"
            ),
            {"s": processed.sha256},
        ).first()
    if same is not None:
        return Outcome(
            image_id, "downloaded", fetched=fetched, processed=processed,
            canonical_url=same.canonical_url, renditions=dict(same.renditions or {}), listing_id=same.listing_id,
        )  # fmt: skip
    if row["listing_id"] is None:
        raise RuntimeError(f"image {image_id}: no listing (nor a reserved id) to store it under")
    stem = _stem(row["url"], processed.sha256)

    def put(name: str, ext: str, data: bytes, content_type: str) -> str:
        key = ImageKey(
            env=get_settings().env.value,
            country=config.dmo.country,
            state=config.dmo.state,
            dmo_id=config.dmo.id,
            listing_id=int(row["listing_id"]),
            filename=stem if name == "original" else f"{stem}-{name}",
            ext=ext,
        )
        # The name carries the content hash: a re-run writes the same bytes to the same object.
        store.put(key.path, data, immutable=False, content_type=content_type)
        return store.uri(key.path)

    original = processed.original
    canonical = put("original", original.ext, original.data, original.content_type)
    renditions = {
        f"{r.name}.{r.ext}": put(r.name, r.ext, r.data, r.content_type) for r in processed.renditions
    }
    return Outcome(
        image_id, "downloaded", fetched=fetched, processed=processed,
        canonical_url=canonical, renditions=renditions, listing_id=int(row["listing_id"]),
    )  # fmt: skip


def _stem(url: str, sha256: str) -> str:
    """`{name from the URL}-{12 hex of the content hash}`: readable, and unique per content."""
    base = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    slug = safe_filename(base)[:80].rstrip("-._") or "image"
    return f"{slug}-{sha256[:12]}"


def record(conn: Connection, outcome: Outcome, *, job_id: int | None) -> None:
    """Write one image's outcome to `pipeline.images` and its history row to `pipeline.image_fetches`.

    A failure keeps the last good copy's fields (a transient failure keeps it in use, see `finish`)."""
    fetched, processed = outcome.fetched, outcome.processed
    now = datetime.now(UTC).replace(tzinfo=None)
    values: dict[str, Any] = {
        "id": outcome.image_id,
        "status": outcome.status,
        "reason": outcome.reason,
        "detail": outcome.detail,
        "http_status": fetched.http_status if fetched else None,
        "attempts": fetched.attempts if fetched else 0,
        "checked_at": now,
        "job": job_id,
    }
    sets = [
        "status = :status", "reason = :reason", "detail = :detail", "http_status = :http_status",
        "attempts = :attempts", "checked_at = :checked_at", "updated_at = now()",
        "last_job_id = coalesce(:job, last_job_id)",
    ]  # fmt: skip
    if fetched is not None and outcome.status != "failed":
        values |= {"etag": fetched.etag, "last_modified": fetched.last_modified}
        sets += ["etag = coalesce(:etag, etag)", "last_modified = coalesce(:last_modified, last_modified)"]
    if outcome.status == "downloaded" and processed is not None and fetched is not None:
        values |= {
            "content_type": fetched.content_type,
            "sha256": processed.sha256,
            "source_format": processed.source_format,
            "width": processed.width,
            "height": processed.height,
            "bytes": len(fetched.content or b""),
            "phash": processed.phash,
            "dhash": processed.dhash,
            "listing_id": outcome.listing_id,
            "canonical_url": outcome.canonical_url,
            "renditions": _json(outcome.renditions or {}),
            "fetched_at": now,
        }
        sets += [
            "content_type = :content_type", "sha256 = :sha256", "source_format = :source_format",
            "width = :width", "height = :height", "bytes = :bytes", "phash = :phash", "dhash = :dhash",
            "listing_id = :listing_id", "canonical_url = :canonical_url",
            "renditions = cast(:renditions as jsonb)", "fetched_at = :fetched_at",
        ]  # fmt: skip
    if outcome.status == "failed" and outcome.reason not in TRANSIENT:
        # The image is bad or gone: the stored copy is no longer the source's image.
        sets += ["canonical_url = null", "renditions = '{}'", "sha256 = null", "phash = null", "dhash = null"]
    conn.execute(text(f"update pipeline.images set {', '.join(sets)} where id = :id"), values)
    conn.execute(
        text(
            "insert into pipeline.image_fetches (job_id, image_id, status, reason, detail, http_status, bytes,"
            " elapsed_ms) values (:job, :id, :status, :reason, :detail, :http_status, :bytes, :ms)"
        ),
        {
            **values,
            "bytes": len(fetched.content) if fetched and fetched.content else None,
            "ms": fetched.elapsed_ms if fetched else None,
        },
    )


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


# ------------------------------------------------------------------------------------------------
# finish
# ------------------------------------------------------------------------------------------------

# An image is shown when a good copy is stored: its last fetch succeeded, or failed for a passing reason.
FINISH_SQL = """
update staging.listing_images as si
set status = case when usable then i.status else 'failed' end,
    canonical_image_url = case when usable then i.canonical_url end,
    renditions = case when usable then i.renditions end,
    phash = case when usable then i.phash end,
    width = case when usable then i.width end,
    height = case when usable then i.height end
from (
    select *, canonical_url is not null and (status <> 'failed' or reason in :transient) as usable
    from pipeline.images
) as i
where si.job_id = :j and si.image_id = i.id
"""

IMAGES_HASH_SQL = """
update staging.listing_info as li
set images_hash = h.images_hash
from (
    select record_no,
           encode(sha256(convert_to(string_agg(rank || ' ' || coalesce(canonical_image_url, '-'), '|' order by rank), 'UTF8')), 'hex') as images_hash
    from staging.listing_images
    where job_id = :j
    group by record_no
) as h
where li.job_id = :j and li.record_no = h.record_no
"""


def finish(job_id: int) -> dict[str, int]:
    """Give staging the outcome of every image of the job; returns the job's image counts by status."""
    from sqlalchemy import bindparam

    with get_engine().begin() as conn:
        job = jobs.load_job(conn, job_id)
        if not job.config.images.enabled or job.promoted_at is not None:
            return {}
        conn.execute(
            text(FINISH_SQL).bindparams(bindparam("transient", expanding=True)),
            {"j": job_id, "transient": sorted(TRANSIENT)},
        )
        conn.execute(text(IMAGES_HASH_SQL), {"j": job_id})
        counts: dict[str, int] = {
            str(row[0]): int(row[1])
            for row in conn.execute(
                text(
                    "select coalesce(status, 'not fetched'), count(*) from staging.listing_images"
                    " where job_id = :j group by 1"
                ),
                {"j": job_id},
            )
        }
    log.info("job %s images: %s", job_id, counts)
    return counts


def run_all(job_id: int) -> dict[str, int]:
    """plan, every batch, finish: the whole step in one process (`listings run`, tests)."""
    for batch in plan(job_id):
        run_batch(batch.job_id, batch.first_id, batch.last_id)
    return finish(job_id)


# ------------------------------------------------------------------------------------------------
# Re-fetch by hand
# ------------------------------------------------------------------------------------------------

REFETCH_SQL = """
select i.id, i.url, i.status, i.reason, i.etag, i.last_modified, i.sha256, i.canonical_url, i.dmo_id,
       t.listing_id
from pipeline.images as i
cross join lateral (
    -- where it was stored, else the listing asked about, else the last staged record showing it
    select coalesce(i.listing_id, cast(:listing as integer), (
        select coalesce(l.listing_id, l.reserved_listing_id)
        from staging.listing_images as si
        join staging.listings as l on l.job_id = si.job_id and l.record_no = si.record_no
        where si.image_id = i.id
        order by si.job_id desc
        limit 1
    )) as listing_id
) as t
where i.id = any(:ids)
order by i.id
"""


def refetch(
    *, image_id: int | None = None, listing_id: int | None = None, user: str = "admin"
) -> list[dict[str, Any]]:
    """Fetch one image (e.g. a failed one), or every image shown by a listing, again, without validators,
    and update the public rows that show it. Returns each image's new status."""
    from listings.config.store import get_config
    from listings.storage import get_store

    if (image_id is None) == (listing_id is None):
        raise ValueError("give an image_id or a listing_id")
    engine = get_engine()
    with engine.connect() as conn:
        if image_id is not None:
            ids = [image_id]
        else:
            ids = [
                int(r[0])
                for r in conn.execute(
                    text(
                        "select distinct i.id from public.listing_info li"
                        " join public.listing_images img on img.listing_info_id = li.id"
                        " join pipeline.images i on i.dmo_id = li.dmo_id"
                        "  and i.url_key = encode(sha256(convert_to(coalesce(img.source_url, img.image), 'UTF8')), 'hex')"
                        " where li.listing_id = :l"
                    ),
                    {"l": listing_id},
                )
            ]
        rows = conn.execute(text(REFETCH_SQL), {"ids": ids, "listing": listing_id}).mappings().all()
        configs = {r["dmo_id"]: get_config(conn, int(r["dmo_id"])).config for r in rows}
    if image_id is not None and not rows:
        raise LookupError(f"no image {image_id}")
    store, results = get_store(), []
    for row in rows:
        config = configs[row["dmo_id"]]
        outcome = fetch_one(row, config, fetch_limits(config), image_rules(config), store, force=True)
        with engine.begin() as conn:
            record(conn, outcome, job_id=None)
            _update_public(conn, outcome.image_id)
        log.info(
            "image %s re-fetched by %s: %s %s", outcome.image_id, user, outcome.status, outcome.reason or ""
        )
        results.append({"image_id": outcome.image_id, "status": outcome.status, "reason": outcome.reason})
    return results


def _update_public(conn: Connection, image_id: int) -> None:
    """The public rows showing this image take its new stored copy (a row shows it by its source URL)."""
    conn.execute(
        text(
            """
            update public.listing_images as img
            set image = i.canonical_url, renditions = i.renditions, width = i.width, height = i.height,
                phash = i.phash, updated_at = now()
            from pipeline.images as i, public.listing_info as li
            where i.id = :i and i.canonical_url is not null
              and img.listing_info_id = li.id and li.dmo_id = i.dmo_id and img.source_url = i.url
            """
        ),
        {"i": image_id},
    )


def image_hashes(conn: Connection, job_id: int, record_nos: Iterable[int]) -> dict[int, list[str]]:
    """The pHashes of each record's shown images, for matching."""
    rows = conn.execute(
        text(
            "select record_no, phash from staging.listing_images"
            " where job_id = :j and record_no = any(:r) and phash is not null order by record_no, rank"
        ),
        {"j": job_id, "r": list(record_nos)},
    )
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(int(row.record_no), []).append(str(row.phash).strip())
    return found
