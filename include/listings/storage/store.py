"""Object storage behind one interface: a local folder (`file://`) or S3 (`s3://`), with write-once objects.

Paths are always `bucket/key` as built by `listings.storage.keys`.
"""

from __future__ import annotations

import abc
import hashlib
import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class ObjectExistsError(Exception):
    """An immutable object was written to a path that already holds an object."""

    def __init__(self, path: str) -> None:
        super().__init__(f"object already exists and is immutable: {path}")
        self.path = path


class ObjectNotFoundError(FileNotFoundError):
    """No object at this path."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no such object: {path}")
        self.path = path


@dataclass(frozen=True)
class StoredObject:
    path: str
    uri: str
    size: int
    sha256: str


def split_path(path: str) -> tuple[str, str]:
    """`bucket/key` → (bucket, key); rejects anything that could escape a bucket folder."""
    bucket, sep, key = path.partition("/") if isinstance(path, str) else ("", "", "")
    if not sep or not key:
        raise ValueError(f"object path must be 'bucket/key'; got {path!r}")
    _check_bucket(bucket, path)
    segments = key.split("/")
    if any(s in ("", ".", "..") for s in segments) or "\\" in key or "\x00" in key:
        raise ValueError(f"object path has an empty, '.', '..' or otherwise unsafe segment: {path!r}")
    return bucket, key


def split_prefix(prefix: str) -> tuple[str, str]:
    """`bucket[/key-prefix]` → (bucket, key-prefix); the key prefix matches like S3's (plain string prefix)."""
    bucket, _, key_prefix = prefix.partition("/") if isinstance(prefix, str) else ("", "", "")
    _check_bucket(bucket, prefix)
    if any(s in (".", "..") for s in key_prefix.split("/")[:-1]) or "\\" in key_prefix:
        raise ValueError(f"prefix has a '.', '..' or otherwise unsafe segment: {prefix!r}")
    return bucket, key_prefix


def _check_bucket(bucket: str, path: str) -> None:
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"invalid bucket name {bucket!r} in {path!r}")


class ObjectStore(abc.ABC):
    """Bytes by `bucket/key` path. Data files are written once (`immutable=True`); images may be replaced."""

    @abc.abstractmethod
    def put(
        self, path: str, data: bytes, *, immutable: bool = True, content_type: str | None = None
    ) -> StoredObject:
        """Write `data` at `path`; with `immutable`, raise ObjectExistsError if anything is already there."""

    @abc.abstractmethod
    def get(self, path: str) -> bytes:
        """The object's bytes; ObjectNotFoundError if absent."""

    @abc.abstractmethod
    def exists(self, path: str) -> bool: ...

    @abc.abstractmethod
    def size(self, path: str) -> int:
        """Size in bytes; ObjectNotFoundError if absent."""

    @abc.abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Sorted paths of all objects whose path starts with `prefix` (`bucket` or `bucket/...`)."""

    @abc.abstractmethod
    def uri(self, path: str) -> str:
        """Full URL of the object: `file:///...` or `s3://bucket/key`."""

    @abc.abstractmethod
    def delete(self, path: str) -> None:
        """Remove the object if present. Only meant for replaceable objects such as images."""

    def _stored(self, path: str, data: bytes) -> StoredObject:
        return StoredObject(
            path=path, uri=self.uri(path), size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )


class FileStore(ObjectStore):
    """Buckets are folders under `root`. Suits one machine, or several sharing a POSIX filesystem."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r})"

    def _file(self, path: str) -> Path:
        bucket, key = split_path(path)
        return self.root.joinpath(bucket, *key.split("/"))

    def put(
        self, path: str, data: bytes, *, immutable: bool = True, content_type: str | None = None
    ) -> StoredObject:
        # content_type is accepted for interface parity; a file system has nowhere to keep it.
        target = self._file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Hidden temp name in the same folder: same file system for link/rename, and list() skips it.
        tmp = target.parent / f".{uuid.uuid4().hex}.tmp"
        try:
            # 0640: the data of DMOs is not every local account's to read
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640), "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if immutable:
                # link() fails if the name exists, so "create only if absent" is one atomic step and the
                # final name only ever points at a complete file.
                try:
                    os.link(tmp, target)
                except FileExistsError:
                    raise ObjectExistsError(path) from None
            else:
                os.replace(tmp, target)
            _fsync_dir(target.parent)
        finally:
            tmp.unlink(missing_ok=True)
        return self._stored(path, data)

    def get(self, path: str) -> bytes:
        try:
            return self._file(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFoundError(path) from None

    def exists(self, path: str) -> bool:
        return self._file(path).is_file()

    def size(self, path: str) -> int:
        file = self._file(path)
        if not file.is_file():
            raise ObjectNotFoundError(path)
        return file.stat().st_size

    def list(self, prefix: str) -> list[str]:
        bucket, key_prefix = split_prefix(prefix)
        folder, _, _ = key_prefix.rpartition("/")
        start = self.root.joinpath(bucket, *folder.split("/")) if folder else self.root / bucket
        if not start.is_dir():
            return []
        bucket_dir = self.root / bucket
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel_dir = Path(dirpath).relative_to(bucket_dir).as_posix()
            for name in filenames:
                if name.startswith("."):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(key_prefix):
                    found.append(f"{bucket}/{key}")
        return sorted(found)

    def uri(self, path: str) -> str:
        return self._file(path).as_uri()

    def delete(self, path: str) -> None:
        self._file(path).unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    # Makes the new directory entry itself durable; not every platform can open a directory.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class S3Client(Protocol):
    """The part of a boto3 S3 client this module uses."""

    @property
    def meta(self) -> Any: ...

    def put_object(self, **kwargs: Any) -> Any: ...
    def get_object(self, **kwargs: Any) -> Any: ...
    def head_object(self, **kwargs: Any) -> Any: ...
    def delete_object(self, **kwargs: Any) -> Any: ...
    def head_bucket(self, **kwargs: Any) -> Any: ...
    def create_bucket(self, **kwargs: Any) -> Any: ...
    def get_paginator(self, operation_name: str) -> Any: ...


def _error(exc: Exception) -> tuple[str, int]:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def _is_missing(exc: Exception) -> bool:
    code, status = _error(exc)
    return status == 404 or code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound")


class S3Store(ObjectStore):
    """Objects in S3 (or an S3-compatible server); buckets are created on first write."""

    # S3 answers 409 when conditional writes to one key race; a retry then sees the winner and gets 412.
    _CONFLICT_RETRIES = 5

    def __init__(self, client: S3Client) -> None:
        from botocore.exceptions import ClientError  # type: ignore[import-untyped]

        self._client = client
        self._client_error: type[Exception] = ClientError
        self._known_buckets: set[str] = set()
        self._bucket_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Store(endpoint={self._client.meta.endpoint_url!r})"

    @property
    def client(self) -> S3Client:
        return self._client

    def _ensure_bucket(self, bucket: str) -> None:
        if bucket in self._known_buckets:
            return
        # One creator per process: parallel first writes would otherwise all race to create the bucket.
        with self._bucket_lock:
            if bucket in self._known_buckets:
                return
            try:
                self._client.head_bucket(Bucket=bucket)
            except self._client_error as exc:
                if not _is_missing(exc):
                    raise
                self._create_bucket(bucket)
            self._known_buckets.add(bucket)

    def _create_bucket(self, bucket: str) -> None:
        kwargs: dict[str, Any] = {"Bucket": bucket}
        region = self._client.meta.region_name
        # us-east-1 is the one region that rejects an explicit LocationConstraint.
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._client.create_bucket(**kwargs)
            log.info("created bucket %s", bucket)
        except self._client_error as exc:
            if _error(exc)[0] != "BucketAlreadyOwnedByYou":
                raise

    def put(
        self, path: str, data: bytes, *, immutable: bool = True, content_type: str | None = None
    ) -> StoredObject:
        bucket, key = split_path(path)
        self._ensure_bucket(bucket)
        stored = self._stored(path, data)
        kwargs: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "Body": data,
            # Kept with the object so an audit can compare against job_files without downloading.
            "Metadata": {"sha256": stored.sha256},
        }
        if content_type:
            kwargs["ContentType"] = content_type
        if immutable:
            # The server does the existence check and the write as one step; no check-then-write race.
            kwargs["IfNoneMatch"] = "*"
        for attempt in range(self._CONFLICT_RETRIES + 1):
            try:
                self._client.put_object(**kwargs)
                return stored
            except self._client_error as exc:
                code, status = _error(exc)
                if status == 412 or code == "PreconditionFailed":
                    raise ObjectExistsError(path) from None
                if code == "NoSuchBucket" and attempt == 0:
                    # Bucket removed behind our back since we cached it: recreate once.
                    self._known_buckets.discard(bucket)
                    self._ensure_bucket(bucket)
                    continue
                if (
                    status == 409 or code == "ConditionalRequestConflict"
                ) and attempt < self._CONFLICT_RETRIES:
                    time.sleep(0.05 * 2**attempt)
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, path: str) -> bytes:
        bucket, key = split_path(path)
        try:
            response = self._client.get_object(Bucket=bucket, Key=key)
        except self._client_error as exc:
            if _is_missing(exc):
                raise ObjectNotFoundError(path) from None
            raise
        body: bytes = response["Body"].read()
        return body

    def _head(self, path: str) -> dict[str, Any] | None:
        bucket, key = split_path(path)
        try:
            head: dict[str, Any] = self._client.head_object(Bucket=bucket, Key=key)
        except self._client_error as exc:
            if _is_missing(exc):
                return None
            raise
        return head

    def exists(self, path: str) -> bool:
        return self._head(path) is not None

    def size(self, path: str) -> int:
        head = self._head(path)
        if head is None:
            raise ObjectNotFoundError(path)
        return int(head["ContentLength"])

    def list(self, prefix: str) -> list[str]:
        bucket, key_prefix = split_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        found: list[str] = []
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=key_prefix):
                found.extend(f"{bucket}/{item['Key']}" for item in page.get("Contents", ()))
        except self._client_error as exc:
            if _is_missing(exc):
                return []
            raise
        return sorted(found)

    def uri(self, path: str) -> str:
        split_path(path)
        return f"s3://{path}"

    def delete(self, path: str) -> None:
        bucket, key = split_path(path)
        try:
            self._client.delete_object(Bucket=bucket, Key=key)
        except self._client_error as exc:
            if not _is_missing(exc):
                raise


def get_store() -> ObjectStore:
    """The store the settings name (`LISTINGS_STORAGE_URL`; S3 credentials from `LISTINGS_STORAGE_CONN_ID`)."""
    from listings.settings import get_settings

    s = get_settings()
    assert s.storage_url is not None
    return open_store(s.storage_url, s.storage_conn_id)


def object_path(s3_uri: str) -> str:
    """A stored file's logical S3 URI (`pipeline.job_files.s3_path`, whatever the backend) as the store's
    `bucket/key`."""
    return s3_uri.removeprefix("s3://")


def open_store(storage_url: str, conn_id: str | None = None) -> ObjectStore:
    """The store for `storage_url`: `file:///abs/path` or `s3://`.

    Bucket names come from the keys (per environment), so an S3 URL carries no bucket. For S3 the
    credentials come from the Airflow connection `conn_id` when it resolves, else boto3's default chain.
    """
    parts = urlsplit(storage_url)
    if parts.query or parts.fragment:
        raise ValueError(f"storage URL must not have a query or fragment: {storage_url!r}")
    if parts.scheme == "file":
        root = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not root.startswith("/"):
            raise ValueError(f"file storage URL must be file:///absolute/path; got {storage_url!r}")
        return FileStore(Path(root))
    if parts.scheme == "s3":
        if parts.netloc or parts.path not in ("", "/"):
            raise ValueError(
                f"S3 storage URL must be just 's3://' (buckets are named per environment by the keys); "
                f"got {storage_url!r}"
            )
        return S3Store(_s3_client(conn_id))
    raise ValueError(f"storage URL must start with file:// or s3://; got {storage_url!r}")


def _airflow_connection(conn_id: str) -> Any | None:
    # Imported here: airflow.sdk costs about a second, and file:// stores never need it.
    try:
        from airflow.sdk import Connection

        return Connection.get(conn_id)
    except Exception as exc:
        log.info("Airflow connection %r not available (%s); using the default AWS credentials", conn_id, exc)
        return None


def _s3_client(conn_id: str | None) -> S3Client:
    import boto3  # type: ignore[import-untyped]

    kwargs: dict[str, Any] = {}
    conn = _airflow_connection(conn_id) if conn_id else None
    if conn is not None:
        extra: dict[str, Any] = conn.extra_dejson or {}
        if conn.login:
            kwargs["aws_access_key_id"] = conn.login
        if conn.password:
            kwargs["aws_secret_access_key"] = conn.password
        endpoint_url = extra.get("endpoint_url")
        region_name = extra.get("region_name")
        source = f"Airflow connection {conn_id!r}"
    else:
        endpoint_url = os.environ.get("LISTINGS_S3_ENDPOINT_URL") or None
        region_name = None
        source = "default AWS credential chain"
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if region_name:
        kwargs["region_name"] = region_name
    log.info("S3 store via %s (endpoint %s)", source, endpoint_url or "AWS")
    client: S3Client = boto3.client("s3", **kwargs)
    return client
