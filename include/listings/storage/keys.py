"""Object naming: the one place that knows how data and image object paths are spelled and parsed."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

ENVS: Final = ("dev", "staging", "app")
STAGES: Final = ("raw", "transformed")
DOMAINS: Final = ("listings", "reviews", "events")
FORMATS: Final = ("json", "csv", "xls")

# A missing state still needs a folder, or country-wide DMOs would shift every later path segment.
NO_STATE: Final = "_"

DATA_PATH_TEMPLATE: Final = "{env}-trippl-data/{stage}/{domain}/{country}/{state}/{dmo_id}/{YYYYMMDD}/{batch:03d}-{YYYYMMDDTHHMMSS}.{fmt}.gz"
IMAGE_PATH_TEMPLATE: Final = "{env}-trippl-images/{country}/{state}/{dmo_id}/{listing_id}/{filename}.{ext}"

_COUNTRY_RE: Final = re.compile(r"[a-z]{2}")
_STATE_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_FILENAME_RE: Final = re.compile(r"[a-z0-9_-][a-z0-9._-]*")
_EXT_RE: Final = re.compile(r"[a-z0-9]{1,10}")
# Stays well below the usual 255-byte file-name limit once the extension is appended.
_MAX_FILENAME: Final = 150

_DATA_PATH_RE: Final = re.compile(
    r"(?P<env>[a-z]+)-trippl-data/(?P<stage>[^/]+)/(?P<domain>[^/]+)/(?P<country>[^/]+)/(?P<state>[^/]+)"
    r"/(?P<dmo_id>[0-9]+)/(?P<day>[0-9]{8})/(?P<batch>[0-9]{3})-(?P<ts>[0-9]{8}T[0-9]{6})\.(?P<fmt>[^./]+)\.gz"
)
_IMAGE_PATH_RE: Final = re.compile(
    r"(?P<env>[a-z]+)-trippl-images/(?P<country>[^/]+)/(?P<state>[^/]+)/(?P<dmo_id>[0-9]+)"
    r"/(?P<listing_id>[0-9]+)/(?P<filename>[^/]+)\.(?P<ext>[^./]+)"
)


def _choice(field: str, value: object, allowed: tuple[str, ...]) -> str:
    # str() unwraps StrEnum members such as settings.Environment to their plain value.
    text = str(value) if isinstance(value, str) else None
    if text is None or text not in allowed:
        raise ValueError(f"{field} must be one of {', '.join(allowed)}; got {value!r}")
    return text


def _non_negative_int(field: str, value: object) -> int:
    # bool is an int subclass; True as an id is always a bug upstream.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{field} must be a non-negative integer; got {value!r}")
    return value


def _country(value: object) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if not _COUNTRY_RE.fullmatch(text):
        raise ValueError(f"country must be a 2-letter ISO code; got {value!r}")
    return text


def _state(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"state must be a string or None; got {value!r}")
    text = value.strip().lower()
    if text in ("", NO_STATE):
        return None
    if not _STATE_RE.fullmatch(text):
        raise ValueError(f"state must be a short code of letters, digits and '-'; got {value!r}")
    return text


def _set(obj: object, **values: Any) -> None:
    for name, value in values.items():
        object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class DataKey:
    """Where one batch file of one DMO's data lives; fields are normalised (lower case, UTC, whole seconds)."""

    env: str
    stage: str
    domain: str
    country: str
    state: str | None
    dmo_id: int
    when: datetime
    batch: int
    fmt: str

    def __post_init__(self) -> None:
        if not isinstance(self.when, datetime):
            raise ValueError(f"when must be a datetime; got {self.when!r}")
        if self.when.tzinfo is None or self.when.utcoffset() is None:
            # A naive time could be local time; the path claims UTC, so make the caller say so.
            raise ValueError(f"when must be timezone-aware (e.g. datetime.now(UTC)); got {self.when!r}")
        batch = self.batch
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 999:
            raise ValueError(f"batch must be an integer in 1..999; got {batch!r}")
        _set(
            self,
            env=_choice("env", self.env, ENVS),
            stage=_choice("stage", self.stage, STAGES),
            domain=_choice("domain", self.domain, DOMAINS),
            fmt=_choice("fmt", self.fmt, FORMATS),
            country=_country(self.country),
            state=_state(self.state),
            dmo_id=_non_negative_int("dmo_id", self.dmo_id),
            # The path only names the second; keys that print the same must also compare equal.
            when=self.when.astimezone(UTC).replace(microsecond=0),
        )

    @property
    def bucket(self) -> str:
        return f"{self.env}-trippl-data"

    @property
    def file_date(self) -> date:
        return self.when.date()

    @property
    def prefix(self) -> str:
        """`bucket/.../{YYYYMMDD}/`: the folder holding every batch of this DMO, stage and domain that day."""
        return (
            f"{self.bucket}/{self.stage}/{self.domain}/{self.country}/{self.state or NO_STATE}"
            f"/{self.dmo_id}/{self.when:%Y%m%d}/"
        )

    @property
    def key(self) -> str:
        return self.path.partition("/")[2]

    @property
    def path(self) -> str:
        return f"{self.prefix}{self.batch:03d}-{self.when:%Y%m%dT%H%M%S}.{self.fmt}.gz"

    @classmethod
    def parse(cls, path: str) -> DataKey:
        """Inverse of `path`; raises ValueError when `path` is not a data object path."""
        match = _DATA_PATH_RE.fullmatch(path) if isinstance(path, str) else None
        if match is None:
            raise ValueError(f"not a data object path: {path!r}; expected {DATA_PATH_TEMPLATE}")
        parts = match.groupdict()
        if not parts["ts"].startswith(parts["day"]):
            raise ValueError(f"date folder {parts['day']} does not match timestamp {parts['ts']} in {path!r}")
        try:
            when = datetime.strptime(parts["ts"], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
            return cls(
                env=parts["env"],
                stage=parts["stage"],
                domain=parts["domain"],
                country=parts["country"],
                state=parts["state"],
                dmo_id=int(parts["dmo_id"]),
                when=when,
                batch=int(parts["batch"]),
                fmt=parts["fmt"],
            )
        except ValueError as exc:
            raise ValueError(f"invalid data object path {path!r}: {exc}") from None


@dataclass(frozen=True)
class ImageKey:
    """Where one image of one listing lives. Image objects may be replaced, unlike data files."""

    env: str
    country: str
    state: str | None
    dmo_id: int
    listing_id: int
    filename: str
    ext: str

    def __post_init__(self) -> None:
        filename = self.filename
        if (
            not isinstance(filename, str)
            or len(filename) > _MAX_FILENAME
            or not _FILENAME_RE.fullmatch(filename)
        ):
            raise ValueError(
                f"filename must be a slug of [a-z0-9._-] without a leading dot, at most {_MAX_FILENAME} "
                f"characters (see safe_filename); got {filename!r}"
            )
        ext = self.ext.lower().lstrip(".") if isinstance(self.ext, str) else ""
        if not _EXT_RE.fullmatch(ext):
            raise ValueError(f"ext must be 1-10 letters or digits; got {self.ext!r}")
        _set(
            self,
            env=_choice("env", self.env, ENVS),
            country=_country(self.country),
            state=_state(self.state),
            dmo_id=_non_negative_int("dmo_id", self.dmo_id),
            listing_id=_non_negative_int("listing_id", self.listing_id),
            ext=ext,
        )

    @property
    def bucket(self) -> str:
        return f"{self.env}-trippl-images"

    @property
    def key(self) -> str:
        return self.path.partition("/")[2]

    @property
    def path(self) -> str:
        return (
            f"{self.bucket}/{self.country}/{self.state or NO_STATE}/{self.dmo_id}/{self.listing_id}"
            f"/{self.filename}.{self.ext}"
        )

    @classmethod
    def parse(cls, path: str) -> ImageKey:
        """Inverse of `path`; raises ValueError when `path` is not an image object path."""
        match = _IMAGE_PATH_RE.fullmatch(path) if isinstance(path, str) else None
        if match is None:
            raise ValueError(f"not an image object path: {path!r}; expected {IMAGE_PATH_TEMPLATE}")
        parts = match.groupdict()
        try:
            return cls(
                env=parts["env"],
                country=parts["country"],
                state=parts["state"],
                dmo_id=int(parts["dmo_id"]),
                listing_id=int(parts["listing_id"]),
                filename=parts["filename"],
                ext=parts["ext"],
            )
        except ValueError as exc:
            raise ValueError(f"invalid image object path {path!r}: {exc}") from None


def safe_filename(text: str) -> str:
    """Slugify arbitrary text (e.g. the last part of an image URL) into a name ImageKey accepts.

    Accents are folded to ASCII, anything outside [a-z0-9._-] becomes '-', and leading dots are
    dropped so the name can never be hidden or climb out of its folder. Text with nothing usable
    left still gets a stable name derived from its hash.
    """
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9._-]+", "-", folded)
    slug = re.sub(r"-{2,}", "-", slug)
    slug = re.sub(r"\.{2,}", ".", slug).strip("-._")
    if not slug:
        return f"file-{digest[:12]}"
    if len(slug) > _MAX_FILENAME:
        # Truncation could make two long names collide, so the hash of the full text keeps them apart.
        slug = f"{slug[: _MAX_FILENAME - 13].rstrip('-._')}-{digest[:12]}"
    return slug
