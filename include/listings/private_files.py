"""Files only their owner may read (secrets, passwords, the local database's state)."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, content: str) -> None:
    """Write `content` to `path` as a file of mode 0600 from its creation (never readable by others, even
    for a moment), replacing any earlier file atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    tmp.replace(path)
