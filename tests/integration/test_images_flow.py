"""The images step end to end against a local image host on 127.0.0.1 and real PostgreSQL: every kind of
bad image ends with its own status and reason while the batch goes on; good ones are stored under the
seed's naming (file:// and s3://) with renditions and hashes, shown by promotion with their rank; an
unchanged re-run downloads nothing; a removed source image leaves the listing; re-fetch by hand."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from dmo_helpers import csv_config, q
from sqlalchemy import Engine

from listings.config.store import apply_config
from listings.pipeline import images as image_step
from listings.pipeline.runner import run_job
from listings.storage import ImageKey
from listings_dev.demo_sites import DemoSites

HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Lat", "Lng", "Images"]

GOOD = ("/images/test/harbour.jpg", "/images/test/market.png", "/images/test/garden.webp")
BAD = {  # path -> the reason the image step records
    "/images/_fault/wrong-type.jpg": "content_type",
    "/images/_fault/truncated.jpg": "truncated",
    "/images/_fault/bomb.png": "decompression_bomb",
    "/images/_fault/huge.jpg?bytes=400000": "too_large",
    "/images/_fault/redirect-loop.jpg": "too_many_redirects",
    "/images/_fault/missing.jpg": "not_found",
    "/images/_fault/slow.jpg?seconds=3": "timeout",
    "/images/_fault/tiny.png": "too_small",
}


@pytest.fixture
def sites() -> Iterator[DemoSites]:
    server = DemoSites()
    server.start()
    yield server
    server.stop()


def _config(dmo_id: int, **images: Any) -> Any:
    return csv_config(
        dmo_id,
        HEADER,
        images={
            "allow_private_hosts": True,
            "max_bytes": 300_000,
            "timeout_seconds": 1,
            "retries": 0,
            "batch_size": 4,
            **images,
        },
    )


def _upload(tmp_path: Path, rows: Sequence[Sequence[str]], name: str = "upload.csv") -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    path = tmp_path / name
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _row(source_id: str, name: str, lat: str, lng: str, urls: Sequence[str]) -> list[str]:
    return [
        source_id,
        name,
        "Musée",
        f"{source_id} rue Principale",
        "Montréal",
        "H2T 2L1",
        lat,
        lng,
        "|".join(urls),
    ]


def _rows(base: str) -> list[list[str]]:
    return [
        _row("a", "Musée du Port", "45.50", "-73.55", [base + p for p in GOOD]),
        _row("b", "Marché Central", "45.53", "-73.65", [base + p for p in BAD]),
        _row("c", "Jardin Secret", "45.56", "-73.60", [base + GOOD[0], base + "/images/_fault/alpha.png"]),
    ]


def _statuses(engine: Engine) -> dict[str, tuple[str, str | None]]:
    return {r.url: (r.status, r.reason) for r in q(engine, "select url, status, reason from pipeline.images")}


def test_every_image_ends_with_its_status_and_good_ones_are_shown(
    engine: Engine, sites: DemoSites, tmp_path: Path, listings_env: Path
) -> None:
    with engine.begin() as conn:
        apply_config(conn, _config(301))
    base = sites.base_url
    result = run_job(301, file=_upload(tmp_path, _rows(base)))
    assert result["status"] == "succeeded", result

    statuses = _statuses(engine)
    for path in GOOD:
        assert statuses[base + path] == ("downloaded", None), path
    for path, reason in BAD.items():
        assert statuses[base + path] == ("failed", reason), path
    assert statuses[base + "/images/_fault/alpha.png"] == ("downloaded", None)
    # the history row of each image names the job
    fetches = q(engine, "select status, count(*) from pipeline.image_fetches where job_id = :j group by 1",
                j=result["job_id"])  # fmt: skip
    assert dict(fetches) == {"downloaded": 4, "failed": len(BAD)}

    # Good images are stored under the seed's naming, with renditions, and shown in source order.
    shown = q(
        engine,
        "select li.external_source_id, img.rank, img.image, img.source_url, img.renditions, img.phash,"
        " img.width, l.id as listing_id"
        " from public.listing_images img join public.listing_info li on li.id = img.listing_info_id"
        " join public.listings l on l.id = li.listing_id order by 1, 2",
    )
    assert [(r.external_source_id, r.rank, r.source_url) for r in shown] == [
        ("a", 1, base + GOOD[0]),
        ("a", 2, base + GOOD[1]),
        ("a", 3, base + GOOD[2]),
        ("c", 1, base + GOOD[0]),
        ("c", 2, base + "/images/_fault/alpha.png"),
    ]  # fmt: skip  (b's images all failed: b shows none)
    objects = listings_env / "objects"
    for r in shown:
        assert r.image.startswith("file://") and len(r.phash) == 16 and r.width > 0
        path = r.image.removeprefix(objects.as_uri() + "/")
        key = ImageKey.parse(path)
        assert (key.env, key.country, key.state, key.dmo_id) == ("dev", "ca", "qc", 301)
        assert (objects / path).exists()
        assert set(r.renditions) == {
            f"{n}.{e}" for n in ("large", "medium", "thumb") for e in ("webp", "jpg")
        }
        for url in r.renditions.values():
            assert Path(url.removeprefix("file://")).exists()
    # a's first image is stored under a's listing; c shows the same URL: stored once, under a's listing
    by_id = {(r.external_source_id, r.rank): r for r in shown}
    assert (
        ImageKey.parse(by_id["a", 1].image.removeprefix(objects.as_uri() + "/")).listing_id
        == by_id["a", 1].listing_id
    )
    assert by_id["c", 1].image == by_id["a", 1].image
    # the listings' pHashes feed matching
    (phashes,) = q(engine, "select image_phashes from pipeline.listing_match where listing_id = :l",
                   l=by_id["a", 1].listing_id)[0]  # fmt: skip
    assert len(phashes) == 3


def test_unchanged_rerun_downloads_nothing_and_a_removed_image_leaves(
    engine: Engine, sites: DemoSites, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        apply_config(conn, _config(302))
    base = sites.base_url
    rows = [_row("a", "Musée du Port", "45.50", "-73.55", [base + p for p in GOOD])]
    first = run_job(302, file=_upload(tmp_path, rows))
    before = q(engine, "select id, image, updated_at from public.listing_images order by id")
    sites.requests.clear()

    second = run_job(302, file=_upload(tmp_path, rows, "again.csv"))
    assert second["status"] == "succeeded"
    fetched = q(engine, "select status, count(*) from pipeline.image_fetches where job_id = :j group by 1",
                j=second["job_id"])  # fmt: skip
    assert dict(fetched) == {"unchanged": 3}
    assert len([r for r in sites.requests if r.startswith("GET /images/")]) == 3  # 304s: nothing downloaded
    assert q(engine, "select id, image, updated_at from public.listing_images order by id") == before
    assert second["counts"]["records_unchanged"] == 1

    # The source drops its second image: the listing no longer shows it.
    rows = [_row("a", "Musée du Port", "45.50", "-73.55", [base + GOOD[0], base + GOOD[2]])]
    third = run_job(302, file=_upload(tmp_path, rows, "fewer.csv"))
    assert third["counts"]["records_updated"] == 1
    assert [r.source_url for r in q(engine, "select source_url from public.listing_images order by rank")] == [
        base + GOOD[0], base + GOOD[2],
    ]  # fmt: skip
    assert first["job_id"] < second["job_id"] < third["job_id"]


def test_a_failed_image_can_be_fetched_again_and_then_shows(
    engine: Engine, sites: DemoSites, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        apply_config(conn, _config(303))
    base = sites.base_url
    sites.faults.add("/images/test/flaky.jpg", 503)
    rows = [_row("a", "Musée du Port", "45.50", "-73.55", [base + "/images/test/flaky.jpg"])]
    run_job(303, file=_upload(tmp_path, rows))
    ((image_id, status, reason),) = q(engine, "select id, status, reason from pipeline.images")
    assert (status, reason) == ("failed", "http_error")
    assert q(engine, "select count(*) from public.listing_images")[0][0] == 0

    assert image_step.refetch(image_id=image_id, user="ops") == [
        {"image_id": image_id, "status": "downloaded", "reason": None}
    ]
    # the next run shows it (its images hash changed), without downloading it again
    again = run_job(303, file=_upload(tmp_path, rows, "again.csv"))
    assert again["counts"]["records_updated"] == 1
    ((image, source_url),) = q(engine, "select image, source_url from public.listing_images")
    assert image.startswith("file://") and source_url == base + "/images/test/flaky.jpg"
    # re-fetching a listing's images by hand (here from the CLI) keeps what is shown
    from click.testing import CliRunner

    from listings.cli import main

    (listing_id,) = q(engine, "select listing_id from public.listing_info")[0]
    out = CliRunner().invoke(main, ["refetch-images", "--listing", str(listing_id)])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {"image_id": image_id, "status": "unchanged", "reason": None}
    assert q(engine, "select image from public.listing_images") == [(image,)]
    bad = CliRunner().invoke(main, ["refetch-images", "--image", "999999"])
    assert bad.exit_code != 0 and "no image 999999" in bad.output


def test_images_are_stored_on_s3(engine: Engine, sites: DemoSites, tmp_path: Path, s3_storage: str) -> None:
    with engine.begin() as conn:
        apply_config(conn, _config(304))
    base = sites.base_url
    rows = [
        _row("a", "Musée du Port", "45.50", "-73.55", [base + GOOD[0], base + "/images/_fault/missing.jpg"])
    ]
    result = run_job(304, file=_upload(tmp_path, rows))
    assert result["status"] == "succeeded"
    ((image,),) = q(engine, "select image from public.listing_images")
    assert image.startswith("s3://dev-trippl-images/ca/qc/304/")
    from listings.storage import get_store

    store = get_store()
    assert store.exists(image.removeprefix("s3://"))
    assert _statuses(engine)[base + "/images/_fault/missing.jpg"] == ("failed", "not_found")


def test_images_off_keeps_source_urls(engine: Engine, sites: DemoSites, tmp_path: Path) -> None:
    with engine.begin() as conn:
        apply_config(conn, _config(305, enabled=False))
    rows = [_row("a", "Musée du Port", "45.50", "-73.55", ["https://images.example.org/a.jpg"])]
    run_job(305, file=_upload(tmp_path, rows))
    assert q(engine, "select image, source_url from public.listing_images") == [
        ("https://images.example.org/a.jpg", "https://images.example.org/a.jpg")
    ]
    assert q(engine, "select count(*) from pipeline.images")[0][0] == 0


def test_a_shared_photo_raises_the_match_confidence(engine: Engine, sites: DemoSites, tmp_path: Path) -> None:
    from listings.matching.engine import match_records
    from listings.pipeline import jobs
    from listings.storage import get_store, load_json_gz

    base = sites.base_url
    with engine.begin() as conn:
        for dmo_id in (306, 307):
            apply_config(conn, _config(dmo_id))
    photo = base + "/images/test/lighthouse.jpg"
    run_job(
        306, file=_upload(tmp_path, [_row("p", "Musée du Port", "45.5000", "-73.5500", [photo])], "a.csv")
    )
    # Another DMO describes the place differently and sends the same photo: the photo is part of the evidence.
    other = [
        "q",
        "Le Port-Musée",
        "Musée",
        "8 quai Ouest",
        "Montréal",
        "H2T 2L1",
        "45.5004",
        "-73.5506",
        photo,
    ]
    job_id = run_job(307, file=_upload(tmp_path, [other], "b.csv"))["job_id"]
    ((method, reason),) = q(engine, "select match_method, reason from pipeline.bridge_source_listing"
                                    " where job_id = :j", j=job_id)  # fmt: skip
    assert method == "auto_match" and "photo match 1.00" in reason, reason

    # The same record without the photo's hash scores lower against the same catalogue.
    with engine.connect() as conn:
        transformed = jobs.job_file(conn, job_id, "transformed")
    (record,) = load_json_gz(get_store().get(transformed.s3_path.removeprefix("s3://")))
    ((phash,),) = q(engine, "select phash from pipeline.images where dmo_id = 307")
    (seen,) = match_records(engine, [{**record, "image_hashes": [phash]}])
    (blind,) = match_records(engine, [{**record, "image_hashes": []}])
    assert seen.decision.confidence > blind.decision.confidence + 0.05, (seen.decision, blind.decision)


def test_a_host_that_does_not_answer_is_given_up_within_a_batch(engine: Engine, tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with engine.begin() as conn:
        apply_config(conn, _config(309, batch_size=10, retries=2))
    urls = [f"{dead}/photo-{k}.jpg" for k in range(6)]
    result = run_job(309, file=_upload(tmp_path, [_row("a", "Musée du Port", "45.50", "-73.55", urls)]))
    assert result["status"] == "succeeded"  # the record is promoted, without images
    reasons = [r.reason for r in q(engine, "select reason from pipeline.images order by id")]
    assert reasons == ["connection"] * 3 + ["host_unreachable"] * 3
    attempts = [r.attempts for r in q(engine, "select attempts from pipeline.images order by id")]
    assert attempts == [3, 1, 1, 0, 0, 0]  # retried once per host, then not at all
