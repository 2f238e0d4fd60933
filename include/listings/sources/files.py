"""Which files a file source may read, and how: the trust boundary between a config and the server's disk.

Configs (saved by any user who may act) and run confs (anyone who may trigger a DAG) name files. They may
only name a regular file inside an import root: the uploads folder (`$LISTINGS_HOME/uploads`) or a folder
of `LISTINGS_IMPORT_ROOTS` (default: the project's bundled samples). Never a device, a FIFO, a file of
/proc, a symbolic link leading out of a root, nor anything else of the data folder (the local database's
state, Airflow's secrets), even under a root that contains it. The check runs when a config is saved and
again when a step or a preview reads the file; the message is the same whether a refused file exists or
not, and never shows its content.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from listings.settings import Settings, get_settings
from listings.sources.base import FetchContext, SourceError

# Never readable, whatever the roots say: kernel and device views of the machine.
_SYSTEM = tuple(Path(p) for p in ("/proc", "/sys", "/dev"))


class FileRefused(SourceError):
    """A named file is not one a file source may read; the message says why and what to do instead."""


def _refused(name: object, why: str) -> FileRefused:
    return FileRefused(
        f"file {str(name)[:300]!r} {why}; upload the file (admin UI, DMO page) or place it in an "
        "import folder (LISTINGS_IMPORT_ROOTS)"
    )


def resolve_import_file(
    name: str | Path, settings: Settings | None = None, *, base: Path | None = None, must_exist: bool = True
) -> Path:
    """The real path of a file a config or a run may read (relative names: to `base`, default the project
    folder). FileRefused when it is outside the import roots, not a regular file, or too large; when it
    does not exist unless not `must_exist` (a config may name a file before it arrives)."""
    settings = settings or get_settings()
    text = str(name)
    if not text.strip() or "\x00" in text:
        raise _refused(name, "is not a file name")
    path = Path(text)
    if not path.is_absolute():
        path = (base or settings.project_dir) / path
    try:
        real = path.resolve()  # follows every symbolic link, so a link out of a root is caught below
    except (OSError, RuntimeError):
        raise _refused(name, "is not a file name") from None
    home = settings.home.resolve()
    uploads = settings.uploads_dir.resolve()
    inside = any(real.is_relative_to(root.resolve()) for root in settings.import_root_paths())
    if (
        not inside
        or any(real.is_relative_to(p) for p in _SYSTEM)
        or (real.is_relative_to(home) and not real.is_relative_to(uploads))
    ):
        raise _refused(name, "is outside the import folders")
    try:
        info = real.stat()
    except OSError:
        if not must_exist:
            return real
        raise _refused(name, "does not exist") from None
    if not stat.S_ISREG(info.st_mode):
        raise _refused(name, "is not a regular file")
    if info.st_size > settings.max_import_bytes:
        raise _refused(
            name, f"is larger than {settings.max_import_bytes:,} bytes (LISTINGS_MAX_IMPORT_BYTES)"
        )
    return real


def read_import_file(path: Path, settings: Settings | None = None) -> tuple[bytes, os.stat_result]:
    """The bytes of a file `resolve_import_file` accepted, read without following a link swapped in since
    and without blocking on a FIFO; at most `max_import_bytes`."""
    settings = settings or get_settings()
    limit = settings.max_import_bytes
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise FileRefused(f"cannot read {path.name}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _refused(path, "is not a regular file")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise _refused(path, f"is larger than {limit:,} bytes (LISTINGS_MAX_IMPORT_BYTES)")
    return data, info


def is_importable(path: Path, settings: Settings | None = None) -> bool:
    try:
        resolve_import_file(path, settings)
    except FileRefused:
        return False
    return True


def import_local_file(path: Path, settings: Settings | None = None) -> Path:
    """A file the operator names on the command line (`listings run --file`), as a file the steps may
    read: itself when it is in an import folder, else a copy `uploads/cli/<UTC time>/<name>` (0600)."""
    settings = settings or get_settings()
    if is_importable(path, settings):
        return path.resolve()
    folder = settings.uploads_dir / "cli" / f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
    folder.mkdir(parents=True)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.name).strip(".-")[:120] or "file"
    target = folder / name
    with path.open("rb") as src, open(target, "xb") as dst:
        shutil.copyfileobj(src, dst)
    target.chmod(0o600)
    return target


@contextmanager
def scratch_dir(settings: Settings | None = None) -> Iterator[Path]:
    """A private folder under the uploads folder for a file read once (a preview's upload), removed after."""
    settings = settings or get_settings()
    root = settings.uploads_dir / ".scratch"
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        yield Path(tmp)


def read_upload(ctx: FetchContext, configured: str | None, what: str) -> tuple[bytes, dict[str, object], str]:
    """The bytes of an uploaded file (the run's file, else the configured one), its metadata and URI."""
    dmo = ctx.config.dmo.id
    name = ctx.file or configured
    if not name:
        raise SourceError(
            f"DMO {dmo}: no {what} file given (pass --file / the run's `file` conf, or set config_params.file)"
        )
    try:
        path = resolve_import_file(name, base=ctx.project_dir)
        data, info = read_import_file(path)
    except FileRefused as exc:
        raise FileRefused(f"DMO {dmo}: {exc}") from None
    metadata: dict[str, object] = {
        "file_name": path.name,
        "file_size": info.st_size,
        "file_modified_at": datetime.fromtimestamp(info.st_mtime, UTC).isoformat(),
        "fetched_at": datetime.now(UTC).isoformat(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    return data, metadata, path.as_uri()
