"""Object storage: how data and image objects are named (keys), encoded (formats) and stored (store)."""

from listings.storage.formats import CONTENT_TYPES, dump_json_gz, gunzip_bytes, gzip_bytes, load_json_gz
from listings.storage.keys import DataKey, ImageKey, safe_filename
from listings.storage.store import (
    FileStore,
    ObjectExistsError,
    ObjectNotFoundError,
    ObjectStore,
    S3Store,
    StoredObject,
    get_store,
    object_path,
    open_store,
)

__all__ = [
    "CONTENT_TYPES",
    "DataKey",
    "FileStore",
    "ImageKey",
    "ObjectExistsError",
    "ObjectNotFoundError",
    "ObjectStore",
    "S3Store",
    "StoredObject",
    "dump_json_gz",
    "get_store",
    "gunzip_bytes",
    "gzip_bytes",
    "load_json_gz",
    "object_path",
    "open_store",
    "safe_filename",
]
