"""Stored image objects read back for the admin's previews: from the URL the images step recorded
(`file:///.../objects/<bucket>/<key>` or `s3://<bucket>/<key>`) to the store's `bucket/key` path."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from listings.storage import FileStore, ObjectStore
from listings.storage.store import split_path

IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
}


def object_path(url: str, store: ObjectStore) -> str:
    """The `bucket/key` path of a stored object's URL; ValueError if the URL is not one of a store."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        path = f"{parts.netloc}/{parts.path.lstrip('/')}"
    elif parts.scheme == "file" and parts.netloc in ("", "localhost"):
        file = Path(unquote(parts.path))
        root = store.root if isinstance(store, FileStore) else None
        if root is not None and file.is_relative_to(root):
            path = file.relative_to(root).as_posix()
        else:  # written under another data folder: the part after the objects folder is bucket/key
            posix = PurePosixPath(unquote(parts.path)).as_posix()
            _, marker, tail = posix.rpartition("/objects/")
            if not marker:
                raise ValueError(f"{url!r} is not under this store's root nor an objects folder")
            path = tail
    else:
        raise ValueError(f"not a stored object URL (file:// or s3://): {url!r}")
    split_path(path)  # refuses '..', empty segments and invalid buckets
    return path


def content_type(path: str) -> str:
    return IMAGE_TYPES.get(PurePosixPath(path).suffix.lower(), "application/octet-stream")


def read_object(url: str, store: ObjectStore) -> tuple[bytes, str]:
    """The object's bytes and content type (by its extension); ObjectNotFoundError if it is gone."""
    path = object_path(url, store)
    return store.get(path), content_type(path)
