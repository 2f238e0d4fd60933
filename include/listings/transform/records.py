"""From a source record to a canonical transformed record: field mapping, cleaning, validation, the
in-file merge of records that describe the same place, then normalisation (E.164 phones, postal codes,
URLs, social profiles), categories to the vocabulary, parsed opening hours, and the hashes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from listings.fields import CONTACT_FIELDS, INFO_FIELDS, LOCATION_FIELDS, SCALAR_FIELDS, SOCIAL_FIELDS
from listings.transform import normalize as norm
from listings.transform.categories import CategoryStats, load_vocabulary
from listings.transform.clean import InvalidValue, clean_multiline, clean_text, parse_coordinate
from listings.transform.hashing import record_hash, sha256_fields
from listings.transform.hours import parse_hours, rows, to_text
from listings.transform.limits import FIELD_LIMITS, MAX_IMAGES, PRECUT_FACTOR, over_limit, truncate
from listings.transform.mapping import MISSING, as_list, as_text, resolve_path


class RecordError(ValueError):
    def __init__(self, error_type: str, message: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.field_name = field_name


@dataclass
class CanonicalRecord:
    """One place as the source describes it, in our canonical fields (before matching)."""

    row_nos: list[int]
    values: dict[str, Any]
    images: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    provenance: list[dict[str, Any]] = field(default_factory=list)  # one entry per source record merged
    # Set on a record whose name and address hash like another record's of the file, but whose source id,
    # phone, unit or website say it is another place (`merge_in_file`): its hash then includes this.
    identity: str | None = None

    @cached_property
    def record_hash(self) -> str:
        v = self.values
        plain = record_hash(v.get("name"), v.get("address1"), v.get("city"), v.get("zip"), v.get("country"))
        return plain if self.identity is None else sha256_fields([plain, "source_id", self.identity])

    def completeness(self) -> int:
        return sum(1 for k in SCALAR_FIELDS if self.values.get(k) is not None) + (1 if self.images else 0)

    def hashes(self) -> dict[str, str]:
        """Change-detection hashes over the normalised values (call after `enrich`)."""
        v = self.values
        contact = [v.get("phone_e164") or v.get("phone"), *(v.get(k) for k in CONTACT_FIELDS[1:-1])]
        return {
            "record_hash": self.record_hash,
            "location_hash": sha256_fields(v.get(k) for k in LOCATION_FIELDS),
            "contact_hash": sha256_fields([*contact, v.get("hours_text") or v.get("opening_hours")]),
            "content_hash": sha256_fields(
                [*(v.get(k) for k in INFO_FIELDS), v.get("category_raw"), *self.images]
            ),
        }


def build_record(
    row_no: int,
    source: Mapping[str, Any],
    mappings: Mapping[str, str],
    *,
    country: str,
    state: str | None,
    image_separator: str = "|",
    provenance: Mapping[str, Any] | None = None,
) -> CanonicalRecord:
    """Map and clean one source record. Raises RecordError when it cannot become a listing."""
    raw = {canonical: resolve_path(source, path) for canonical, path in mappings.items()}
    if raw and all(v is MISSING for v in raw.values()):
        raise RecordError(
            "mapping_error",
            f"none of the mapped source fields exist ({', '.join(sorted(set(mappings.values())))})",
        )
    values: dict[str, Any] = {}
    flags: list[str] = []
    for name in SCALAR_FIELDS:
        text = as_text(raw.get(name))
        if name == "opening_hours" and raw.get(name) not in (None, MISSING):
            # Structured hours (schema.org, HERE) are parsed from their structure, not from their text.
            values["_hours_source"] = raw[name]
        if name in ("lat", "lng"):
            try:
                coord: Decimal | None = parse_coordinate(text, kind=name)
            except InvalidValue as exc:
                # Keep the place; drop the unusable coordinate and say so.
                flags.append(f"invalid_{name}: {exc}")
                coord = None
            values[name] = None if coord is None else str(coord)
        elif name == "description":
            precut = FIELD_LIMITS[name].max_chars * PRECUT_FACTOR
            if text is not None and len(text) > precut:
                # A huge value is cut before cleaning, to far more than the limit: `enrich` cuts the text
                # its HTML gives to the limit, and flags it with this length.
                values["_description_length"] = len(text)
                text = text[:precut]
            values[name] = clean_multiline(text)
        else:
            values[name] = clean_text(text)
    if values["name"] is None:
        path = mappings.get("name", "name")
        raise RecordError("missing_field", f"row {row_no}: the name (source field {path!r}) is empty", "name")
    _apply_limits(row_no, values, flags, mappings)
    if (values["lat"] is None) != (values["lng"] is None):
        flags.append("partial_coordinates: one of lat/lng missing, both dropped")
        values["lat"] = values["lng"] = None
    source_country = values["country"]
    if source_country is not None and not (len(source_country) == 2 and source_country.isalpha()):
        flags.append(
            f"country {truncate(source_country, 80)!r} is not an ISO code: the DMO's country {country} is used"
        )
        source_country = None
    values["country"] = (source_country or country).upper()
    values["state"] = values["state"] or state
    images = _safe_images(as_list(raw.get("images"), image_separator), flags)
    return CanonicalRecord(
        row_nos=[row_no], values=values, images=images, flags=flags, provenance=[dict(provenance or {})]
    )


def _apply_limits(row_no: int, values: dict[str, Any], flags: list[str], mappings: Mapping[str, str]) -> None:
    """The length limits of `listings.transform.limits`: reject the record, or drop the value."""
    for name in FIELD_LIMITS:
        value = values.get(name)
        limit = over_limit(name, value)
        if limit is None or value is None:
            continue
        length = f"{len(value):,} characters"
        if limit.on_excess == "reject":
            path = mappings.get(name, name)
            raise RecordError(
                "field_too_long",
                f"row {row_no}: the {name} (source field {path!r}) is {length} long; "
                f"at most {limit.max_chars:,} are allowed",
                name,
            )
        if limit.on_excess == "drop":
            values[name] = None
            flags.append(f"field_too_long: {name} ({length}, at most {limit.max_chars:,}) dropped")
            if name == "opening_hours":
                values.pop("_hours_source", None)
        # "truncate" (the description) is cut and flagged by `enrich`, once its HTML is reduced to text.


def _safe_images(urls: list[str], flags: list[str]) -> list[str]:
    """Only absolute http(s) image URLs are kept (javascript:, data:, file:, relative paths and over-long
    ones are dropped and flagged), at most MAX_IMAGES of them."""
    kept: list[str] = []
    for url in urls:
        safe = norm.http_url(url)
        if safe is None:
            flags.append(f"invalid_image_url: {truncate(url, 80)!r} is not an http(s) address: dropped")
        elif safe not in kept:
            kept.append(safe)
    if len(kept) > MAX_IMAGES:
        flags.append(f"too_many_images: {len(kept):,} image URLs, the first {MAX_IMAGES} kept")
        kept = kept[:MAX_IMAGES]
    return kept


def merge_records(group: list[CanonicalRecord]) -> CanonicalRecord:
    """Merge records with one record_hash: per field, the most complete record wins, then the most recent
    (later row); image lists are merged in row order."""
    if len(group) == 1:
        return group[0]
    ranked = sorted(group, key=lambda r: (r.completeness(), max(r.row_nos)), reverse=True)
    names = dict.fromkeys(name for r in group for name in r.values)
    values = {
        name: next((r.values[name] for r in ranked if r.values.get(name) is not None), None) for name in names
    }
    by_row = sorted(group, key=lambda r: min(r.row_nos))
    images = list(dict.fromkeys(img for r in by_row for img in r.images))
    flags = list(dict.fromkeys(f for r in by_row for f in r.flags))
    row_nos = sorted(n for r in group for n in r.row_nos)
    provenance = [p for r in by_row for p in r.provenance]
    return CanonicalRecord(row_nos=row_nos, values=values, images=images, flags=flags, provenance=provenance)


@dataclass
class MergeResult:
    records: list[CanonicalRecord]
    duplicates: int
    conflicts: list[tuple[CanonicalRecord, str]]


def merge_in_file(records: Iterable[CanonicalRecord]) -> MergeResult:
    """Group by record_hash and merge; a source id reused by a different place is a conflict.

    The hash leaves out what does not change a place's identity (formatting, legal forms, units), so one
    hash can also cover two places of one building. Records of one hash are merged only when their evidence
    is consistent (`_same_place`): two source ids whose phones, units or websites differ stay two records
    (the later ones get a hash of their own) and matching decides on them like on any other pair."""
    groups: dict[str, list[CanonicalRecord]] = {}
    for rec in records:
        groups.setdefault(rec.record_hash, []).append(rec)
    merged: list[CanonicalRecord] = []
    duplicates = 0
    for group in groups.values():
        places: list[list[CanonicalRecord]] = []
        for rec in group:
            place = next((p for p in places if all(_same_place(rec, other) for other in p)), None)
            if place is None:
                places.append([rec])
            else:
                place.append(rec)
        for i, place in enumerate(places):
            one = merge_records(place)
            if i:  # (a copy: the caller's record keeps its plain hash)
                one = dataclasses.replace(one, identity=str(place[0].values["source_id"]))
            merged.append(one)
            duplicates += len(place) - 1
    merged.sort(key=lambda r: r.row_nos[0])
    kept: list[CanonicalRecord] = []
    conflicts: list[tuple[CanonicalRecord, str]] = []
    seen_ids: dict[str, CanonicalRecord] = {}
    for rec in merged:
        sid = rec.values.get("source_id")
        if sid is not None and sid in seen_ids:
            first = seen_ids[sid]
            conflicts.append(
                (
                    rec,
                    f"source id {sid!r} is also used by row {first.row_nos[0]} for a different place ({first.values['name']!r})",
                )
            )
            continue
        if sid is not None:
            seen_ids[sid] = rec
        kept.append(rec)
    return MergeResult(records=kept, duplicates=duplicates, conflicts=conflicts)


_DIGITS = re.compile(r"\D+")


def _evidence(rec: CanonicalRecord) -> dict[str, object]:
    """What tells two places of one name and address apart: phone digits, the unit, the website host."""
    v = rec.values
    country = v.get("country") or "CA"
    out: dict[str, object] = {}
    phone = _DIGITS.sub("", str(v.get("phone") or ""))
    if len(phone) >= 7:
        out["phone"] = phone[-10:]  # the national number: "+1 415..." and "(415)..." are one phone
    unit = norm.unit_key(v.get("address2") or norm.split_unit(v.get("address1"), country=country)[1])
    if unit:
        out["unit"] = unit
    host = norm.website_host(v.get("website"))
    if host:
        out["website"] = host
    return out


def _same_place(a: CanonicalRecord, b: CanonicalRecord) -> bool:
    """Records of one hash are one place unless two different source ids disagree on the evidence."""
    id_a, id_b = a.values.get("source_id"), b.values.get("source_id")
    if id_a is None or id_b is None or id_a == id_b:
        return True
    ea, eb = _evidence(a), _evidence(b)
    return all(ea[k] == eb[k] for k in ea.keys() & eb.keys())


def enrich(
    rec: CanonicalRecord,
    *,
    source_type: str | None = None,
    category_synonyms: Mapping[str, str] | None = None,
    stats: CategoryStats | None = None,
) -> CanonicalRecord:
    """Normalise a (merged) record in place: postal code, unit, phone (E.164), website and social
    profiles, e-mail, description; category to the vocabulary; opening hours parsed. Never raises:
    what cannot be normalised is kept as the source wrote it and flagged."""
    v, flags = rec.values, rec.flags
    country = v.get("country") or "CA"
    if v.get("zip"):
        postal = norm.normalize_postal(v["zip"], country=country)
        if postal:
            v["zip"] = postal
        else:
            flags.append(f"invalid_postal: {v['zip']!r} is not a {country} postal code")
    if v.get("address1") and not v.get("address2"):
        civic, unit = norm.split_unit(v["address1"], country=country)
        if civic and unit:
            v["address1"], v["address2"] = civic, unit
    v["phone_e164"] = None
    if v.get("phone"):
        phone = norm.normalize_phone(v["phone"], country=country)
        if phone is not None and phone.e164:
            v["phone"], v["phone_e164"] = phone.national or v["phone"], phone.e164
        else:
            flags.append(f"invalid_phone: {v['phone']!r} is not a phone number of {country}")
    website, socials = norm.split_contacts(v.get("website"), {f: v.get(f) for f in SOCIAL_FIELDS})
    if v.get("website") and website is None and not socials:
        flags.append(f"invalid_website: {v['website']!r}")
    v["website"] = website
    for f in SOCIAL_FIELDS:
        v[f] = socials.get(f)
    if v.get("email"):
        email = norm.normalize_email(v["email"])
        if email is None:
            flags.append(f"invalid_email: {v['email']!r}")
        v["email"] = email
    limit = FIELD_LIMITS["description"].max_chars
    source_length = v.pop("_description_length", None)
    description = norm.safe_description(v.get("description"), max_length=limit * PRECUT_FACTOR)
    if description is not None and len(description) > limit:
        length = source_length or len(description)
        flags.append(f"field_truncated: description ({length:,} characters) cut to {limit:,}")
        description = norm.cut_text(description, limit)
    v["description"] = description

    match = load_vocabulary().map(
        v.get("category"), source_type=source_type, extra_synonyms=category_synonyms
    )
    if stats is not None:
        stats.add(match)
    v["category"], v["category_raw"], v["category_method"] = match.category, match.raw, match.method
    if match.method == "unmapped":
        flags.append(f"unmapped_category: {match.raw!r}")

    hours_source = v.pop("_hours_source", None)
    if hours_source is not None or v.get("opening_hours"):
        parsed = parse_hours(hours_source if hours_source is not None else v["opening_hours"])
        v["hours_status"] = parsed.status
        v["hours_text"] = to_text(parsed) if parsed.periods else None
        v["hours"] = [list(row) for row in rows(parsed)]
        if parsed.status in ("unparsed", "partial"):
            flags.append(f"hours_{parsed.status}: {', '.join(parsed.flags) or v.get('opening_hours')}")
    rec.flags = list(dict.fromkeys(flags))
    return rec
