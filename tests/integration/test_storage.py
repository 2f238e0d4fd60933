"""Object stores: one behaviour suite run against a local folder and against S3 (moto server on 127.0.0.1).

The S3 store is built the way the pipeline builds it, `open_store("s3://", conn_id=...)`, with the
Airflow connection supplied as an `AIRFLOW_CONN_*` environment variable pointing at the moto server.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from listings.storage import (
    CONTENT_TYPES,
    DataKey,
    FileStore,
    ImageKey,
    ObjectExistsError,
    ObjectNotFoundError,
    ObjectStore,
    S3Store,
    StoredObject,
    dump_json_gz,
    gunzip_bytes,
    gzip_bytes,
    load_json_gz,
    open_store,
)

CONN_ID = "listings_s3_test"
CONN_ENV = "AIRFLOW_CONN_LISTINGS_S3_TEST"
CONN_REGION = "eu-west-1"
WHEN = datetime(2026, 11, 28, 10, 25, 3, tzinfo=UTC)


def data_path(batch: int = 1, dmo_id: int = 101, stage: str = "raw", fmt: str = "json") -> str:
    return DataKey(
        env="dev",
        stage=stage,
        domain="listings",
        country="CA",
        state="QC",
        dmo_id=dmo_id,
        when=WHEN,
        batch=batch,
        fmt=fmt,
    ).path


IMAGE_PATH = ImageKey(
    env="dev", country="CA", state="QC", dmo_id=101, listing_id=5521, filename="front", ext="jpg"
).path


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ambient AWS credentials, config files, endpoints or instance metadata: only what a test sets."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "LISTINGS_S3_ENDPOINT_URL" or name == CONN_ENV:
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def s3_store(moto_endpoint: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> S3Store:
    reset_moto(moto_endpoint)
    monkeypatch.setenv(
        CONN_ENV,
        json.dumps(
            {
                "conn_type": "aws",
                "login": "conn-access-key",
                "password": "conn-secret-key",
                "extra": {"endpoint_url": moto_endpoint, "region_name": CONN_REGION},
            }
        ),
    )
    store = open_store("s3://", conn_id=CONN_ID)
    assert isinstance(store, S3Store)
    return store


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "file":
        return open_store((tmp_path / "objects").as_uri())
    s3: S3Store = request.getfixturevalue("s3_store")
    return s3


# --- behaviour common to both backends -----------------------------------------------------------


def test_put_get_round_trip(store: ObjectStore) -> None:
    data = b"id,name\n1,Ch\xc3\xa2teau Frontenac\n"
    path = data_path(fmt="csv")
    stored = store.put(path, data, content_type=CONTENT_TYPES["csv"])
    assert stored == StoredObject(
        path=path, uri=store.uri(path), size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    assert store.get(path) == data
    assert store.exists(path)
    assert store.size(path) == len(data)


def test_empty_object(store: ObjectStore) -> None:
    stored = store.put(IMAGE_PATH, b"", immutable=False)
    assert stored.size == 0 and stored.sha256 == hashlib.sha256(b"").hexdigest()
    assert store.get(IMAGE_PATH) == b""
    assert store.size(IMAGE_PATH) == 0


def test_immutable_second_put_raises_and_keeps_original(store: ObjectStore) -> None:
    path = data_path()
    store.put(path, b"original")
    with pytest.raises(ObjectExistsError) as info:
        store.put(path, b"replacement")
    assert info.value.path == path
    with pytest.raises(ObjectExistsError):
        store.put(path, b"original")  # identical bytes are no exception: write-once means once
    assert store.get(path) == b"original"
    assert store.size(path) == len(b"original")
    assert store.list(path) == [path]


def test_immutable_put_refuses_to_replace_a_mutable_object(store: ObjectStore) -> None:
    store.put(IMAGE_PATH, b"v1", immutable=False)
    with pytest.raises(ObjectExistsError):
        store.put(IMAGE_PATH, b"v2")
    assert store.get(IMAGE_PATH) == b"v1"


def test_non_immutable_put_overwrites(store: ObjectStore) -> None:
    first = store.put(IMAGE_PATH, b"first version", immutable=False, content_type="image/jpeg")
    second = store.put(IMAGE_PATH, b"v2", immutable=False, content_type="image/jpeg")
    assert store.get(IMAGE_PATH) == b"v2"
    assert store.size(IMAGE_PATH) == 2
    assert second.sha256 == hashlib.sha256(b"v2").hexdigest() != first.sha256
    assert store.list(IMAGE_PATH) == [IMAGE_PATH]


def test_missing_objects(store: ObjectStore) -> None:
    path = data_path(batch=7)
    assert not store.exists(path)
    with pytest.raises(ObjectNotFoundError):
        store.get(path)
    with pytest.raises(FileNotFoundError):  # ObjectNotFoundError is a FileNotFoundError
        store.size(path)
    store.put(data_path(batch=1), b"x")  # bucket now exists, key still does not
    assert not store.exists(path)
    with pytest.raises(ObjectNotFoundError):
        store.get(path)
    assert not store.exists(data_path(batch=1).rsplit("/", 1)[0])  # a folder is not an object


def test_list_is_sorted_and_uses_plain_string_prefixes(store: ObjectStore) -> None:
    day = DataKey.parse(data_path()).prefix
    paths = [
        data_path(batch=2),
        data_path(batch=1),
        data_path(batch=1, dmo_id=1010),
        data_path(batch=1, stage="transformed"),
        IMAGE_PATH,
    ]
    for path in paths:
        store.put(path, path.encode())

    assert store.list(day) == [data_path(batch=1), data_path(batch=2)]
    assert store.list(day + "00") == [data_path(batch=1), data_path(batch=2)]
    assert store.list(day + "002") == [data_path(batch=2)]
    assert store.list("dev-trippl-data/raw/listings/ca/qc/101/") == [data_path(batch=1), data_path(batch=2)]
    # Like S3, a prefix is a string prefix, not a folder: "101" also matches "1010".
    assert store.list("dev-trippl-data/raw/listings/ca/qc/101") == sorted(
        [data_path(batch=1), data_path(batch=2), data_path(batch=1, dmo_id=1010)]
    )
    everything = sorted(p for p in paths if p.startswith("dev-trippl-data/"))
    assert store.list("dev-trippl-data") == everything
    assert store.list("dev-trippl-data/") == everything
    assert store.list("dev-trippl-images") == [IMAGE_PATH]
    assert store.list("dev-trippl-data/raw/events/") == []
    assert store.list("app-trippl-data") == []  # bucket never created


def test_uri_points_at_the_stored_bytes(store: ObjectStore) -> None:
    path = data_path()
    stored = store.put(path, b"payload")
    assert stored.uri == store.uri(path)
    if isinstance(store, FileStore):
        assert stored.uri == f"file://{store.root}/{path}"
        assert Path(unquote(urlsplit(stored.uri).path)).read_bytes() == b"payload"
    else:
        assert isinstance(store, S3Store)
        assert stored.uri == f"s3://{path}"
        bucket, key = path.split("/", 1)
        assert store.client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"payload"


def test_delete(store: ObjectStore) -> None:
    store.put(IMAGE_PATH, b"img", immutable=False)
    store.delete(IMAGE_PATH)
    assert not store.exists(IMAGE_PATH)
    assert store.list("dev-trippl-images") == []
    store.delete(IMAGE_PATH)  # already gone: nothing to do
    store.put(IMAGE_PATH, b"again")  # a deleted path can be written once more
    assert store.get(IMAGE_PATH) == b"again"


@pytest.mark.parametrize(
    "path",
    [
        "",
        "dev-trippl-data",
        "dev-trippl-data/",
        "/dev-trippl-data/raw/x",
        "dev-trippl-data/../escape",
        "dev-trippl-data/raw/../../escape",
        "dev-trippl-data/raw//x",
        "dev-trippl-data/./x",
        "Dev_Bucket/x",
        "../x",
    ],
)
def test_unsafe_paths_are_rejected(store: ObjectStore, path: str) -> None:
    with pytest.raises(ValueError):
        store.put(path, b"x")
    with pytest.raises(ValueError):
        store.get(path)


def test_json_gz_round_trip_through_store(store: ObjectStore) -> None:
    records: list[dict[str, Any]] = [
        {
            "name": "Château Frontenac — 東京 😀",
            "updated_at": datetime(2026, 11, 28, 10, 25, 3, tzinfo=UTC),
            "opens": date(2027, 5, 1),
            "price": Decimal("199.990"),
            "tags": ["hôtel", "historique"],
            "geo": {"lat": 46.8118, "lon": -71.2054},
            "closed": None,
            "rank": 1,
        },
        {"name": "second", "price": Decimal("1E+2")},
    ]
    path = data_path(fmt="json")
    store.put(path, dump_json_gz(records), content_type=CONTENT_TYPES["json"])
    assert load_json_gz(store.get(path)) == [
        {
            "name": "Château Frontenac — 東京 😀",
            "updated_at": "2026-11-28T10:25:03+00:00",
            "opens": "2027-05-01",
            "price": "199.990",
            "tags": ["hôtel", "historique"],
            "geo": {"lat": 46.8118, "lon": -71.2054},
            "closed": None,
            "rank": 1,
        },
        {"name": "second", "price": "1E+2"},
    ]


def test_json_gz_records_from_a_generator_round_trip(store: ObjectStore) -> None:
    """(Its speed at 100,000 records: bench/readers.py.)"""
    count = 10_000

    def records() -> Iterator[dict[str, Any]]:
        for i in range(count):
            yield {
                "external_id": f"ext-{i}",
                "name": f"Lieu n°{i}",
                "updated_at": datetime(2026, 11, 28, i % 24, i % 60, tzinfo=UTC),
                "price": Decimal(i) / 100,
            }

    payload = dump_json_gz(records())  # a generator: the batch is never materialised as a list
    path = data_path(fmt="json")
    stored = store.put(path, payload, content_type=CONTENT_TYPES["json"])
    loaded = load_json_gz(store.get(path))

    assert stored.size == len(payload)
    assert len(loaded) == count
    assert loaded[0] == {
        "external_id": "ext-0",
        "name": "Lieu n°0",
        "updated_at": "2026-11-28T00:00:00+00:00",
        "price": "0",
    }
    assert loaded[-1]["external_id"] == "ext-9999" and loaded[-1]["price"] == "99.99"


def race(store: ObjectStore, path: str, writers: int) -> tuple[list[tuple[int, StoredObject]], list[int]]:
    """Start `writers` threads that put different bytes at `path` at the same instant."""
    barrier = threading.Barrier(writers)
    lock = threading.Lock()
    wins: list[tuple[int, StoredObject]] = []
    losses: list[int] = []
    errors: list[BaseException] = []

    def write(i: int) -> None:
        barrier.wait()
        try:
            stored = store.put(path, f"writer {i} ".encode() * 1000)
        except ObjectExistsError:
            with lock:
                losses.append(i)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                wins.append((i, stored))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return wins, losses


def test_concurrent_immutable_puts_exactly_one_wins(store: ObjectStore) -> None:
    writers = 8
    for round_no in range(1, 6):
        path = data_path(batch=round_no)
        wins, losses = race(store, path, writers)
        assert len(wins) == 1, f"round {round_no}: {len(wins)} writers won"
        assert sorted([*losses, wins[0][0]]) == list(range(writers))
        winner, stored = wins[0]
        assert store.get(path) == f"writer {winner} ".encode() * 1000
        assert stored.sha256 == hashlib.sha256(store.get(path)).hexdigest()
    if isinstance(store, FileStore):
        assert leftovers(store) == []


# --- local folder specifics ----------------------------------------------------------------------


def file_store(tmp_path: Path) -> FileStore:
    store = open_store((tmp_path / "objects").as_uri())
    assert isinstance(store, FileStore)
    return store


def leftovers(store: FileStore) -> list[Path]:
    return [p for p in store.root.rglob("*") if p.is_file() and p.name.startswith(".")]


def test_file_store_layout_and_no_temp_files(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    path = data_path()
    store.put(path, b"data")
    store.put(IMAGE_PATH, b"img", immutable=False)
    store.put(IMAGE_PATH, b"img2", immutable=False)
    with pytest.raises(ObjectExistsError):
        store.put(path, b"other")
    assert (tmp_path / "objects" / path).read_bytes() == b"data"
    assert leftovers(store) == []


def test_file_store_crash_before_publish_leaves_nothing_under_the_final_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = file_store(tmp_path)
    path = data_path()

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("simulated crash")

    with monkeypatch.context() as patch:
        patch.setattr(os, "link", crash)
        with pytest.raises(OSError, match="simulated crash"):
            store.put(path, b"complete payload")
    assert not store.exists(path)
    assert store.list("dev-trippl-data") == []
    assert leftovers(store) == []
    store.put(path, b"complete payload")  # the failed attempt did not take the name
    assert store.get(path) == b"complete payload"


def test_file_store_writer_landing_just_before_publish_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Thread timing rarely hits the gap between "is it there?" and "write it", so force it: another
    # writer publishes the object right before ours does. Only an atomic publish notices.
    store = file_store(tmp_path)
    path = data_path()
    real_link = os.link

    def competitor_first(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        monkeypatch.setattr(os, "link", real_link)
        store.put(path, b"competitor")
        real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", competitor_first)
    with pytest.raises(ObjectExistsError):
        store.put(path, b"late writer")
    assert store.get(path) == b"competitor"
    assert leftovers(store) == []


def test_file_store_failed_overwrite_keeps_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = file_store(tmp_path)
    store.put(IMAGE_PATH, b"v1", immutable=False)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("simulated crash")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", crash)
        with pytest.raises(OSError, match="simulated crash"):
            store.put(IMAGE_PATH, b"v2", immutable=False)
    assert store.get(IMAGE_PATH) == b"v1"
    assert leftovers(store) == []


def test_file_store_list_ignores_hidden_temp_files(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    path = data_path()
    store.put(path, b"data")
    folder = (tmp_path / "objects" / path).parent
    (folder / ".0123abcd.tmp").write_bytes(b"half-written")
    assert store.list("dev-trippl-data") == [path]


# --- S3 specifics ---------------------------------------------------------------------------------


def test_s3_store_comes_from_the_airflow_connection(s3_store: S3Store, moto_endpoint: str) -> None:
    # Endpoint and region can only have come from the connection: no AWS_* or LISTINGS_* variables are
    # set, so the successful (signed) put below also proves the connection's keys were used.
    assert s3_store.client.meta.endpoint_url == moto_endpoint
    assert s3_store.client.meta.region_name == CONN_REGION
    credentials = s3_store.client._request_signer._credentials  # type: ignore[attr-defined]
    assert credentials.access_key == "conn-access-key"
    path = data_path()
    s3_store.put(path, b"x")
    location = s3_store.client.get_bucket_location(Bucket="dev-trippl-data")  # type: ignore[attr-defined]
    assert location["LocationConstraint"] == CONN_REGION


def test_s3_store_keeps_content_type_and_sha256(s3_store: S3Store) -> None:
    data = dump_json_gz([{"a": 1}])
    path = data_path()
    stored = s3_store.put(path, data, content_type=CONTENT_TYPES["json"])
    head = s3_store.client.head_object(Bucket="dev-trippl-data", Key=path.split("/", 1)[1])
    assert head["ContentType"] == "application/json"
    assert head["ContentLength"] == len(data)
    assert head["Metadata"]["sha256"] == stored.sha256


def test_s3_store_sends_conditional_write_only_for_immutable_puts(s3_store: S3Store) -> None:
    seen: list[bytes | None] = []

    def record(request: Any, **kwargs: Any) -> None:
        seen.append(request.headers.get("If-None-Match"))

    s3_store.client.meta.events.register("before-send.s3.PutObject", record)
    s3_store.put(data_path(), b"x")
    s3_store.put(IMAGE_PATH, b"y", immutable=False)
    assert seen == [b"*", None]


def test_s3_store_creates_bucket_once(s3_store: S3Store) -> None:
    calls: list[str] = []
    s3_store.client.meta.events.register(
        "before-parameter-build.s3.CreateBucket", lambda **kwargs: calls.append(kwargs["params"]["Bucket"])
    )
    s3_store.put(data_path(batch=1), b"1")
    s3_store.put(data_path(batch=2), b"2")
    s3_store.put(IMAGE_PATH, b"3", immutable=False)
    assert calls == ["dev-trippl-data", "dev-trippl-images"]
    # A second store (another process) finds the buckets already there.
    fresh = S3Store(s3_store.client)
    fresh.put(data_path(batch=3), b"3")
    assert calls == ["dev-trippl-data", "dev-trippl-images"]


def test_s3_fallback_to_default_credentials_and_env_endpoint(
    moto_endpoint: str, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset_moto(moto_endpoint)
    monkeypatch.setenv("LISTINGS_S3_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    for store in (open_store("s3://", conn_id=CONN_ID), open_store("s3://")):  # connection missing / none
        assert isinstance(store, S3Store)
        assert store.client.meta.endpoint_url == moto_endpoint
        assert store.client._request_signer._credentials.access_key == "env-access-key"  # type: ignore[attr-defined]

    path = data_path()
    stored = store.put(path, b"via env")
    assert stored.uri == f"s3://{path}"
    assert store.get(path) == b"via env"
    assert store.list("dev-trippl-data") == [path]


# --- open_store -----------------------------------------------------------------------------------


def test_open_store_file_url(tmp_path: Path) -> None:
    store = open_store(tmp_path.as_uri())
    assert isinstance(store, FileStore) and store.root == tmp_path.resolve()
    spaced = tmp_path / "with space"
    store = open_store(spaced.as_uri())
    assert isinstance(store, FileStore) and store.root == spaced.resolve()
    assert store.put(data_path(), b"x").uri.startswith(spaced.as_uri() + "/dev-trippl-data/")


@pytest.mark.parametrize(
    "url",
    [
        "file://relative/path",
        "file:relative",
        "s3://dev-trippl-data",
        "s3://bucket/prefix",
        "gs://bucket",
        "/abs/path",
        "file:///tmp/x?y=1",
    ],
)
def test_open_store_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match="storage URL"):
        open_store(url)


# --- formats --------------------------------------------------------------------------------------


def test_gzip_is_deterministic() -> None:
    data = b"same bytes " * 100
    first = gzip_bytes(data)
    assert gzip_bytes(data) == first
    assert first[4:8] == b"\x00\x00\x00\x00"  # mtime field
    assert gunzip_bytes(first) == data
    assert gzip.decompress(first) == data
    assert dump_json_gz([{"a": 1}]) == dump_json_gz(iter([{"a": 1}]))


def test_dump_json_gz_writes_one_utf8_json_array() -> None:
    raw = gunzip_bytes(dump_json_gz([{"name": "é"}, {"name": "東京"}]))
    assert "é".encode() in raw and b"\\u" not in raw
    assert json.loads(raw) == [{"name": "é"}, {"name": "東京"}]
    assert json.loads(gunzip_bytes(dump_json_gz([]))) == []
    assert load_json_gz(dump_json_gz([])) == []


def test_dump_json_gz_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(ValueError):
        dump_json_gz([{"score": float("nan")}])
    with pytest.raises(TypeError, match="bytes"):
        dump_json_gz([{"blob": b"\x00"}])
    with pytest.raises(TypeError, match="mappings"):
        dump_json_gz([["not", "a", "mapping"]])  # type: ignore[list-item]


def test_load_json_gz_refuses_other_documents() -> None:
    with pytest.raises(ValueError, match="array of objects"):
        load_json_gz(gzip_bytes(b'{"a": 1}'))
    with pytest.raises(ValueError, match="array of objects"):
        load_json_gz(gzip_bytes(b"[1, 2]"))
