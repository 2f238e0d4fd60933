"""The form editor of a DMO config: one input per config field, generated from the pydantic models
(`DmoConfig`, its nested sections and every connector's `config_params` model), and the way back from the
posted form to a validated `DmoConfig`.

No Airflow import. The page module renders `form_sections()` with `form_values(...)`, and saves what
`config_from_form(...)` returns the same way as the YAML editor does (`listings.admin.dmos.save_config`),
so both editors produce the same stored config.

Input names are the config's own paths (`dmo.name`, `images.pool_slots`), except the source settings:
each source type has its own section, `config_params.<source_type>.<field>`, and only the chosen type's
section is read. Widgets follow the field's type: text, number, checkbox (bool), select (enum / Literal),
checkboxes (list of choices), a textarea of lines (list of text; for an optional list, empty is null and
`[]` an empty list), a two-column table (dict of text or numbers: `<name>.key` / `<name>.value` rows),
a YAML scalar (unions such as `str | int`) and a YAML textarea for anything else (lists of objects, dicts
of lists). An input absent from the posted form leaves its field out (the model's default applies):
tables, checkboxes and choice lists post a hidden marker so that "present but empty" is not "absent".

Validation messages name the config path (`dmo.country: ...`, as the YAML editor does) and are attached
to the input of that path (`errors[input_name]`); a message with no input of its own is attached to the
section (`errors[section_key]`) or listed at the top.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import AnyUrl, BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from listings.config.models import DmoConfig, SourceType
from listings.config.store import ConfigError
from listings.fields import CANONICAL_FIELDS

PARAMS = "config_params"
GENERAL = "general"  # the section of DmoConfig's own scalar fields
Kind = Literal[
    "text", "number", "checkbox", "select", "checkboxes", "lines", "table", "mappings", "scalar", "yaml"
]

# Help for the fields the models describe only in comments (a field's own `description` comes first).
HELP: dict[str, str] = {
    "dmo": "The DMO (data source) this config imports for: a row of public.dmos.",
    "dmo.id": "Number of the DMO (public.dmos.id). It names the DAG (dmo_<id>_<domain>) and cannot change "
    "once saved.",
    "dmo.name": "Name shown in the admin pages and the DAG's description.",
    "dmo.dmo_type": "SCRAPED, TRAVEL_SITE, CLIENT or PARTNER: how much its data is trusted when sources "
    "disagree.",
    "dmo.country": "Two-letter ISO 3166-1 country code of the DMO's area, e.g. CA.",
    "dmo.state": "Short state or province code, e.g. QC (optional).",
    GENERAL: "Where the data comes from and when the DAG runs.",
    "source_type": "The connector that reads the source; its own settings are in the next section.",
    "data_domain": "What the config imports: listings, reviews or events (one config per DMO and domain).",
    "schedule": "When the DAG runs by itself (manual: only when triggered).",
    "active": "Only active configs have a DAG; an inactive one keeps its data but never runs.",
    "base_url": "Root URL of the site or API the HTTP connectors read (empty for uploads).",
    "field_mappings": "Canonical field <- path in the source record (a column name, or dotted: "
    "acf.location.lat). Overrides the connector's default mapping; a row with an empty source removes "
    "a default. `name` must be mapped (by a row or by the connector's defaults).",
    PARAMS: "Settings of the chosen source type (config_params).",
    "config_params.delimiter": "Force a one-character delimiter instead of detecting it.",
    "config_params.image_separator": "Separator between image URLs in one field.",
    "category_synonyms": "This DMO's own category words -> category vocabulary id "
    "(include/listings/data/categories.yaml); checked before the shared synonyms.",
    "images.enabled": "Fetch, check and resize the listings' images.",
    "images.host": "The image host, for the pool name images_<host> (default: the base URL's host).",
    "images.pool_slots": "Images fetched at once from the host, across every DMO sharing it.",
    "images.allow_private_hosts": "Allow private, loopback and link-local addresses (demo and tests only).",
    "images.batch_size": "Images per mapped task.",
    "images.max_bytes": "Largest image downloaded, in bytes.",
    "images.timeout_seconds": "Connect and read timeout per image.",
    "images.retries": "Retries of a failed download.",
    "images.min_width": "Narrower images are refused (px).",
    "images.min_height": "Shorter images are refused (px).",
    "images.max_pixels": "Decompression-bomb limit: width x height.",
    "images.renditions": "Rendition name -> width in px (16..8000); 'original' is reserved.",
    "images.formats": "Formats each rendition is written in (at least one).",
    "removal.after_days": "Soft-remove a listing the source has not sent for this many days (empty: "
    "never by age).",
    "removal.after_runs": "Soft-remove a listing missing from this many full-snapshot runs in a row "
    "(empty: never by runs).",
}
# Column headings of the two-column tables (default: Key / Value).
COLUMNS: dict[str, tuple[str, str]] = {
    "field_mappings": ("Source column / path", "Target field"),
    "category_synonyms": ("DMO's category word", "Vocabulary id"),
    "images.renditions": ("Rendition", "Width (px)"),
    "config_params.fields": ("Field", "Selector (CSS, or xpath:...)"),
    "config_params.list_fields": ("Field", "Selector (CSS, or xpath:...)"),
    "config_params.headers": ("Header", "Value"),
    "config_params.extra_query": ("Parameter", "Value"),
    "config_params.query": ("Parameter", "Value"),
    "config_params.extra_fields": ("Name", "Path in the item"),
}
TITLES: dict[str, str] = {
    "dmo": "DMO",
    GENERAL: "Source and schedule",
    "field_mappings": "Field mappings",
    "category_synonyms": "Category synonyms",
    "removal": "Removal of listings the source stops sending",
    "images": "Images",
}


@dataclass(frozen=True)
class FormField:
    path: str  # the field's path in the config document: "dmo.name", "config_params.file"
    name: str  # the input's name: "dmo.name", "config_params.csv.file"
    key: str  # the field's own name (the YAML key)
    label: str
    kind: Kind
    help: str = ""
    limits: str = ""  # "1 to 64", "at most 1 character"
    required: bool = False  # no default: the config must give it
    optional: bool = False  # null allowed: an empty input is null
    choices: tuple[str, ...] = ()
    step: str = "1"  # number inputs: "1" or "any"
    columns: tuple[str, str] = ("Key", "Value")
    empty: Any = None  # what an empty YAML textarea means (for a non-optional dict or list)
    readonly_on_edit: bool = False  # dmo.id, data_domain: fixed once the config exists
    default: Any = None  # the model's default, in JSON form (None when required)

    @property
    def row_names(self) -> tuple[str, ...]:
        """The input names of a table's two columns (one value per row)."""
        if self.kind == "mappings":
            return (f"{self.name}.source", f"{self.name}.target")
        if self.kind == "table":
            return (f"{self.name}.key", f"{self.name}.value")
        return ()


@dataclass(frozen=True)
class FormSection:
    key: str  # "dmo", "general", "config_params.csv", "field_mappings", "images"
    title: str
    help: str
    fields: tuple[FormField, ...]
    source_type: str | None = None  # the config_params section of this source type

    @property
    def table(self) -> FormField | None:
        """The section's one table (field mappings, category synonyms), shown without a field label."""
        return self.fields[0] if len(self.fields) == 1 and self.key == self.fields[0].name else None


@dataclass
class FormError(Exception):
    """The posted form is not a valid config: nothing is saved. `problems` as the YAML editor words them
    (`path: message`); `errors` the same messages by input name (or section key); `values` what was posted,
    to show again."""

    problems: list[str]
    errors: dict[str, list[str]]
    values: dict[str, Any]
    general: list[str] = field(default_factory=list)  # problems with no input of their own

    def __str__(self) -> str:
        return "; ".join(self.problems)


# ------------------------------------------------------------------------------------------------
# The form's shape, from the models
# ------------------------------------------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _choices(annotation: Any) -> tuple[str, ...] | None:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return tuple(str(m.value) for m in annotation)
    if get_origin(annotation) is Literal:
        return tuple(str(a) for a in get_args(annotation))
    return None


def _is_text(annotation: Any) -> bool:
    annotation = _unwrap(annotation)
    return annotation is str or (isinstance(annotation, type) and issubclass(annotation, AnyUrl))


def _is_number(annotation: Any) -> bool:
    annotation = _unwrap(annotation)
    return annotation in (int, float)


def _kind(annotation: Any) -> tuple[Kind, bool, tuple[str, ...], str, Any]:
    """(kind, optional, choices, step, empty container) of a field's annotation."""
    annotation = _unwrap(annotation)
    optional = False
    if _is_union(annotation):
        members = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(members) < len(get_args(annotation))
        if len(members) > 1:
            if all(_choices(m) is None and (_is_text(m) or _is_number(m)) for m in members):
                return "scalar", optional, (), "1", None
            return "yaml", optional, (), "1", None
        annotation = _unwrap(members[0])
    if annotation is bool:
        return "checkbox", optional, (), "1", None
    choices = _choices(annotation)
    if choices is not None:
        return "select", optional, choices, "1", None
    if annotation is int:
        return "number", optional, (), "1", None
    if annotation is float:
        return "number", optional, (), "any", None
    if _is_text(annotation):
        return "text", optional, (), "1", None
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, tuple, set, frozenset) and args:
        inner = _unwrap(args[0])
        if _choices(inner) is not None:
            return "checkboxes", optional, _choices(inner) or (), "1", []
        if _is_text(inner):
            return "lines", optional, (), "1", []
        return "yaml", optional, (), "1", []
    if origin is dict and args and _unwrap(args[0]) is str:
        value = _unwrap(args[1])
        plain = [a for a in get_args(value) if a is not type(None)] if _is_union(value) else [value]
        if len(plain) == 1 and (_is_text(plain[0]) or _is_number(plain[0])) and _choices(plain[0]) is None:
            return "table", optional, (), "1", {}
        return "yaml", optional, (), "1", {}
    return "yaml", optional, (), "1", None


def _limits(info: FieldInfo) -> str:
    parts = []
    for m in info.metadata:
        if isinstance(m, annotated_types.Ge):
            parts.append(f"at least {m.ge}")
        elif isinstance(m, annotated_types.Gt):
            parts.append(f"more than {m.gt}")
        elif isinstance(m, annotated_types.Le):
            parts.append(f"at most {m.le}")
        elif isinstance(m, annotated_types.Lt):
            parts.append(f"less than {m.lt}")
        elif isinstance(m, annotated_types.MinLen) and m.min_length > 0:
            parts.append(f"at least {m.min_length} long")
        elif isinstance(m, annotated_types.MaxLen):
            parts.append(f"at most {m.max_length} long")
    return ", ".join(parts)


def _label(key: str) -> str:
    return key.replace("_", " ").strip().capitalize()


def _field(path: str, name: str, key: str, info: FieldInfo, help_path: str) -> FormField:
    kind, optional, choices, step, empty = _kind(info.annotation)
    if path == "field_mappings":  # rows: source column/path -> a canonical field
        kind, choices = "mappings", CANONICAL_FIELDS
    help_text = info.description or HELP.get(help_path, "")
    return FormField(
        path=path,
        name=name,
        key=key,
        label=_label(key),
        kind=kind,
        help=help_text,
        limits=_limits(info),
        required=info.is_required(),
        optional=optional,
        choices=choices,
        step=step,
        columns=COLUMNS.get(help_path, ("Key", "Value")),
        empty=empty,
        readonly_on_edit=path in ("dmo.id", "data_domain"),
        default=None
        if info.is_required()
        else to_jsonable_python(info.get_default(call_default_factory=True)),
    )


def _model_fields(model: type[BaseModel], prefix: str, name_prefix: str, help_prefix: str) -> list[FormField]:
    return [
        _field(f"{prefix}{key}", f"{name_prefix}{key}", key, info, f"{help_prefix}{key}")
        for key, info in model.model_fields.items()
    ]


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def _nested_model(info: FieldInfo) -> type[BaseModel] | None:
    annotation = _unwrap(info.annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


@cache
def form_sections() -> tuple[FormSection, ...]:
    """Every section of the form, in the order shown: the DMO, the config's own fields, one section of
    source settings per source type, then each of DmoConfig's tables and nested models."""
    from listings.sources.registry import params_model

    general: list[FormField] = []
    after: list[FormSection] = []
    sections: list[FormSection] = []
    for key, info in DmoConfig.model_fields.items():
        nested = _nested_model(info)
        if key == PARAMS:
            continue
        if nested is not None:
            section = FormSection(
                key,
                TITLES.get(key, _label(key)),
                HELP.get(key) or _doc(nested),
                tuple(_model_fields(nested, f"{key}.", f"{key}.", f"{key}.")),
            )
            (sections if not general and not after else after).append(section)
            continue
        one = _field(key, key, key, info, key)
        if one.kind in ("table", "mappings", "yaml"):
            after.append(FormSection(key, TITLES.get(key, _label(key)), one.help, (one,)))
        else:
            general.append(one)
    params = [
        FormSection(
            f"{PARAMS}.{st.value}",
            f"Source settings: {st.value}",
            _doc(params_model(st.value)),
            tuple(_model_fields(params_model(st.value), f"{PARAMS}.", f"{PARAMS}.{st.value}.", f"{PARAMS}.")),
            source_type=st.value,
        )
        for st in SourceType
    ]
    general_section = FormSection(GENERAL, TITLES[GENERAL], HELP[GENERAL], tuple(general))
    return (*sections, general_section, *params, *after)


@cache
def _inputs() -> dict[str, FormField]:
    return {f.name: f for s in form_sections() for f in s.fields}


def section_for(source_type: str) -> str:
    return f"{PARAMS}.{source_type}"


# ------------------------------------------------------------------------------------------------
# Config -> the values the form shows
# ------------------------------------------------------------------------------------------------


def _number_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:.1f}"
    return str(value)


def _scalar_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            same = yaml.safe_load(value) == value
        except yaml.YAMLError:
            same = False
        return value if same else yaml.safe_dump(value, default_style="'").strip().removesuffix("...").strip()
    return yaml.safe_dump(value).strip().removesuffix("...").strip()


def _yaml_text(value: Any) -> str:
    if value is None:
        return ""
    if value in ({}, []):
        return yaml.safe_dump(value).strip()
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False).rstrip()


def _display(f: FormField, value: Any) -> Any:
    if f.kind == "checkbox":
        return bool(value)
    if f.kind == "checkboxes":
        return [str(v) for v in value or []]
    if f.kind == "mappings":  # rows "source -> target" of the {target: source} mapping
        return [("" if v is None else str(v), str(k)) for k, v in (value or {}).items()]
    if f.kind == "table":
        return [
            (str(k), _number_text(v) if isinstance(v, float) else str(v)) for k, v in (value or {}).items()
        ]
    if f.kind == "lines":
        if value is None:
            return ""
        return "\n".join(str(v) for v in value) if value else ("[]" if f.optional else "")
    if f.kind == "number":  # a float field shows 15.0 whether its default was written 15 or 15.0
        if f.step == "any" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        return _number_text(value)
    if f.kind == "scalar":
        return _scalar_text(value)
    if f.kind == "yaml":
        return _yaml_text(value)
    return "" if value is None else str(value)


def _defaults(model: type[BaseModel]) -> dict[str, Any]:
    """A params model's defaults in JSON form, without validating them (some models need a setting)."""
    return model.model_construct().model_dump(mode="json", by_alias=True)


def _at(document: Mapping[str, Any], f: FormField) -> Any:
    """The value of a field in a (maybe partial) document; its default when the document lacks it."""
    value: Any = document
    for part in f.path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return f.default
        value = value[part]
    return value


def form_values(document: Mapping[str, Any]) -> dict[str, Any]:
    """What each input shows for a config document (`DmoConfig.document()`, or a template): the chosen
    source type's settings from the document, every other type's defaults."""
    from listings.sources.registry import params_model

    chosen = str(document.get("source_type") or "")
    values: dict[str, Any] = {}
    for section in form_sections():
        if section.source_type is not None:
            if section.source_type == chosen:
                source = {**_defaults(params_model(chosen)), **dict(document.get(PARAMS) or {})}
            else:
                source = _defaults(params_model(section.source_type))
            for f in section.fields:
                values[f.name] = _display(f, source.get(f.key))
            continue
        for f in section.fields:
            values[f.name] = _display(f, _at(document, f))
    return values


def config_values(config: DmoConfig) -> dict[str, Any]:
    return form_values(config.document())


# ------------------------------------------------------------------------------------------------
# The posted form -> a config
# ------------------------------------------------------------------------------------------------


class _Posted:
    """The posted form as lists of strings per name (Starlette's FormData, or a plain mapping)."""

    def __init__(self, form: Any) -> None:
        self._form = form

    def has(self, name: str) -> bool:
        return name in self._form

    def all(self, name: str) -> list[str]:
        if hasattr(self._form, "getlist"):
            values = self._form.getlist(name)
        else:
            raw = self._form.get(name)
            values = [] if raw is None else list(raw) if isinstance(raw, (list, tuple)) else [raw]
        return [v if isinstance(v, str) else "" for v in values]

    def one(self, name: str) -> str:
        values = self.all(name)
        return values[-1] if values else ""


def _shown(f: FormField, posted: _Posted) -> Any:
    """The raw posted value of one input, in the shape `form_values` gives (to show again)."""
    if f.kind == "checkbox":
        return any(v.lower() in ("true", "on", "1", "yes") for v in posted.all(f.name))
    if f.kind == "checkboxes":
        return [v for v in posted.all(f.name) if v]
    if f.kind in ("table", "mappings"):
        left, right = f.row_names
        keys, values = posted.all(left), posted.all(right)
        rows = [(k.strip(), v.strip()) for k, v in zip(keys, values, strict=False)]
        return [(k, v) for k, v in rows if k or v]
    return posted.one(f.name)


class _Bad(ValueError):
    pass


def _parsed(f: FormField, shown: Any) -> Any:
    """The document value of one input's posted value; _Bad when it cannot be read at all."""
    if f.kind in ("checkbox", "checkboxes"):
        return shown
    if f.kind in ("table", "mappings"):
        result: dict[str, Any] = {}
        for key, value in shown:
            if f.kind == "mappings":
                # a row is "source -> target": the target field is the key of the stored mapping
                source, target = key, value
                if not target:
                    raise _Bad(f"the row with source {source!r} has no target field")
                if target in result:
                    raise _Bad(f"{target} is mapped twice")
                result[target] = source or None
            else:
                if not key:
                    raise _Bad(f"the row with value {value!r} has no {f.columns[0].lower()}")
                if key in result:
                    raise _Bad(f"{key} is given twice")
                result[key] = value
        return result
    text = str(shown).strip()
    if f.kind == "lines":
        if not text:
            return None if f.optional else []
        if text == "[]":
            return []
        return [line.strip() for line in text.splitlines() if line.strip()]
    if f.kind == "yaml":
        if not text:
            return None if f.optional else f.empty
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise _Bad(f"not valid YAML: {' '.join(str(exc).split())}") from None
    if not text:
        if f.optional:
            return None
        return "" if f.kind in ("text", "scalar") else text
    if f.kind == "scalar":
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError:
            return text
        return loaded if loaded is not None else None
    return text


def _message(err: Mapping[str, Any]) -> str:
    return str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _where(loc: Sequence[Any], source_type: str | None) -> tuple[str, str | None, str]:
    """(config path, input name or section key, the rest of the path below that input) of a pydantic
    error location: `images.renditions.big` is the input `images.renditions`, rest `big`."""
    parts = [str(p) for p in loc]
    path = ".".join(parts) or "(document)"
    names = _inputs()
    if parts and parts[0] == PARAMS:
        if source_type is None:
            return path, None, ""
        parts = [section_for(source_type), *parts[1:]]
        fallback: str | None = section_for(source_type)
    else:
        fallback = None
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in names:
            return path, candidate, ".".join(parts[n:])
    if parts and any(s.key == parts[0] for s in form_sections()):
        return path, parts[0], ".".join(parts[1:])
    return path, fallback, ""


def _top_level_owner(message: str) -> str | None:
    """The field a model-level message is about, when it starts by naming one ("field_mappings must ...")."""
    first = message.split(" ", 1)[0].strip("`:,")
    return first if first in DmoConfig.model_fields else None


def posted_values(form: Any) -> dict[str, Any]:
    """What each input of a posted form showed (to show the form again as it was)."""
    posted = _Posted(form)
    return {f.name: _shown(f, posted) for f in _inputs().values()}


def config_from_form(form: Any) -> DmoConfig:
    """Validate a posted form; FormError (every problem, by input) when it is not a valid config."""
    from listings.sources.registry import params_model

    posted = _Posted(form)
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    problems: list[str] = []
    general: list[str] = []

    def problem(path: str, name: str | None, message: str, rest: str = "") -> None:
        problems.append(f"{path}: {message}")
        if name is None:
            general.append(f"{path}: {message}")
        else:
            errors.setdefault(name, []).append(f"{rest}: {message}" if rest else message)

    values.update(posted_values(form))
    chosen = posted.one("source_type").strip()
    source_type = chosen if chosen in {s.value for s in SourceType} else None
    document: dict[str, Any] = {}
    params: dict[str, Any] = {}
    unreadable: set[str] = set()
    for section in form_sections():
        if section.source_type is not None and section.source_type != source_type:
            continue
        for f in section.fields:
            if not posted.has(f.name) and not (f.row_names and posted.has(f.row_names[0])):
                continue  # not in the form: the default applies
            try:
                value = _parsed(f, values[f.name])
            except _Bad as exc:
                problem(f.path, f.name, str(exc))
                unreadable.add(f.name)  # left out: what the model then says of it is not news
                continue
            if section.source_type is not None:
                params[f.key] = value
                continue
            target = document
            *parents, last = f.path.split(".")
            for part in parents:
                target = target.setdefault(part, {})
            target[last] = value
    params_failed = False
    if source_type is not None:
        document[PARAMS] = params
        try:
            params_model(source_type).model_validate(params)
        except ValidationError as exc:
            params_failed = True
            for err in exc.errors():
                path, name, rest = _where((PARAMS, *err["loc"]), source_type)
                if name not in unreadable:
                    problem(path, name, _message(err), rest)
    try:
        config = DmoConfig.model_validate(document)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            if params_failed and (not loc or str(loc[0]) not in DmoConfig.model_fields):
                continue  # the params' own messages, already attached to their inputs
            message = _message(err)
            if not loc and (owner := _top_level_owner(message)):
                loc = (owner,)
            path, name, rest = _where(loc, source_type)
            if name not in unreadable:
                problem(path, name, message, rest)
        raise FormError(problems, errors, values, general) from None
    if problems:
        raise FormError(problems, errors, values, general)
    return config


def form_error_from_config_error(
    exc: ConfigError, values: dict[str, Any], source_type: str | None
) -> FormError:
    """A ConfigError raised while saving (e.g. `dmo.id: DMO 3 already has a config`) as a FormError."""
    errors: dict[str, list[str]] = {}
    general: list[str] = []
    for problem in exc.problems:
        path, _, message = problem.partition(": ")
        loc = tuple(path.split(".")) if path and not path.startswith("(") else ()
        name = _where(loc, source_type)[1] if loc else None
        if name is None:
            general.append(problem)
        else:
            errors.setdefault(name, []).append(message)
    return FormError(list(exc.problems), errors, values, general)
