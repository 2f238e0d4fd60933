"""The DMO pages of the admin UI: every config with its last jobs, one config with its version history, the
YAML editor (validate, then save as a new version), activate / deactivate, and "test this config".

No Airflow import: the routes (`plugins/listings_admin/routes/dmo*.py`) call these; so can scripts and tests.
Saving goes through `listings.config.store.apply_config`, as `listings config apply` does: an invalid
document raises `ConfigError` (one message per field) and nothing is saved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, Engine, text

from listings.config.models import DmoConfig, DmoTypeId
from listings.config.store import (
    ApplyResult,
    ConfigError,
    StoredConfig,
    apply_config,
    check_files,
    content_hash,
    get_config,
    parse_config,
    to_yaml,
)

RECENT_JOBS = 10  # the error rate is over this many of a config's latest jobs
MAX_YAML_BYTES = 512_000
PREVIEW_LIMIT = 10


@dataclass(frozen=True)
class ConfigVersion:
    version: int
    created_at: datetime | None
    changed_by: str | None
    content_hash: str
    document: dict[str, Any]


@dataclass(frozen=True)
class ConfigPage:
    stored: StoredConfig
    yaml: str
    versions: list[ConfigVersion]
    shown_version: int  # the version whose YAML is `yaml` (the current one unless asked for an older one)
    source_file: str | None


# ------------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------------

_LIST_SQL = text(
    """
    select c.id as config_id, c.dmo_id, c.data_domain, c.source_type, c.schedule, c.active, c.version,
           c.updated_at, d.name, d.dmo_type_id, d.active as dmo_active,
           lj.id as last_job_id, lj.status as last_job_status, lj.at as last_job_at,
           st.jobs, st.failed_jobs, st.records_total, st.records_error
    from pipeline.configs c
    join public.dmos d on d.id = c.dmo_id
    left join lateral (
        select j.id, j.status, coalesce(j.finished_at, j.started_at, j.created_at) as at
        from pipeline.jobs j
        where j.dmo_id = c.dmo_id and j.data_domain = c.data_domain and j.status <> 'deleted'
        order by j.created_at desc, j.id desc
        limit 1
    ) lj on true
    left join lateral (
        select count(*) as jobs,
               count(*) filter (where x.status = 'failed') as failed_jobs,
               sum(r.records_total) as records_total,
               -- record errors ignored from the job page leave the rate (ix_job_errors_job_id_ignored)
               sum(greatest(r.records_error - (
                   select count(*)::int from pipeline.job_errors e
                   where e.job_id = x.id and e.stage = 'transform' and e.ignored_at is not null
               ), 0)) as records_error
        from (
            select j.id, j.status
            from pipeline.jobs j
            where j.dmo_id = c.dmo_id and j.data_domain = c.data_domain and j.status <> 'deleted'
            order by j.created_at desc, j.id desc
            limit :recent
        ) x
        left join pipeline.job_results r on r.job_id = x.id
    ) st on true
    order by c.dmo_id, c.data_domain
    """
)


def next_run(schedule: str, now: datetime, *, active: bool = True) -> datetime | None:
    """When the DAG's schedule next fires after `now` (UTC, naive), as Airflow's presets do: @hourly at
    the next full hour, @daily at midnight, @weekly on Sunday at midnight, @monthly on the 1st. None for
    a manual or inactive config. Whether Airflow has the DAG paused is the Schedule page's to say."""
    if not active or schedule not in ("hourly", "daily", "weekly", "monthly"):
        return None
    hour = now.replace(minute=0, second=0, microsecond=0)
    if schedule == "hourly":
        return hour + timedelta(hours=1)
    midnight = hour.replace(hour=0) + timedelta(days=1)
    if schedule == "daily":
        return midnight
    if schedule == "weekly":  # Python: Monday 0 ... Sunday 6
        return midnight + timedelta(days=(6 - midnight.weekday()) % 7)
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def dmo_list(
    conn: Connection, *, recent: int = RECENT_JOBS, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Every config (one row per DMO and data domain) with its last job and the error rate of its latest
    `recent` jobs: records in error / records read, and failed jobs among them. One index scan of
    `pipeline.jobs (dmo_id, created_at)` per config."""
    rows = []
    for r in conn.execute(_LIST_SQL, {"recent": recent}).mappings():
        row = dict(r)
        row["dmo_type"] = DmoTypeId(row["dmo_type_id"]).name
        total, errors = row["records_total"] or 0, row["records_error"] or 0
        row["error_rate"] = (errors / total) if total else None
        row["next_run"] = next_run(
            str(row["schedule"]), now or datetime.now(UTC).replace(tzinfo=None), active=row["active"]
        )
        rows.append(row)
    return rows


def document_hash(document: dict[str, Any]) -> str:
    """`content_hash` of a stored document (the same formula as `listings.config.store.content_hash`)."""
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def document_yaml(document: dict[str, Any]) -> str:
    """A stored document as YAML, in the config's field order when it still validates (an old version
    may not, after the config model changed: then as stored)."""
    try:
        return to_yaml(DmoConfig.model_validate(document))
    except ValueError:
        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def config_versions(conn: Connection, config_id: int) -> list[ConfigVersion]:
    rows = conn.execute(
        text(
            "select version, created_at, changed_by, document from pipeline.config_versions"
            " where config_id = :c order by version desc"
        ),
        {"c": config_id},
    )
    return [
        ConfigVersion(r.version, r.created_at, r.changed_by, document_hash(r.document), r.document)
        for r in rows
    ]


def config_page(
    conn: Connection, dmo_id: int, data_domain: str = "listings", *, version: int | None = None
) -> ConfigPage:
    """One config: its YAML (or an older version's), its versions newest first. LookupError when there is
    no such config or version."""
    stored = get_config(conn, dmo_id, data_domain)
    versions = config_versions(conn, stored.config_id)
    source_file = conn.execute(
        text("select source_file from pipeline.configs where id = :c"), {"c": stored.config_id}
    ).scalar()
    if version is None or version == stored.version:
        return ConfigPage(stored, to_yaml(stored.config), versions, stored.version, source_file)
    old = next((v for v in versions if v.version == version), None)
    if old is None:
        raise LookupError(f"DMO {dmo_id} ({data_domain}) has no config version {version}")
    return ConfigPage(stored, document_yaml(old.document), versions, version, source_file)


def next_dmo_id(conn: Connection) -> int:
    return int(conn.execute(text("select coalesce(max(id), 0) + 1 from public.dmos")).scalar_one())


def template_yaml(dmo_id: int) -> str:
    """A CSV config to start a new DMO from (valid as it is; change the names to the file's columns)."""
    return f"""\
dmo:
  id: {dmo_id}
  name: New DMO
  dmo_type: CLIENT  # SCRAPED | TRAVEL_SITE | CLIENT | PARTNER
  country: CA
  state: QC
source_type: csv
data_domain: listings
schedule: manual  # manual | hourly | daily | weekly | monthly
active: true
base_url: null
# canonical field: column of the CSV file
field_mappings:
  source_id: ID
  name: Name
  category: Category
  address1: Address1
  city: City
  zip: Postal
  phone: Phone
  website: Website
  lat: Lat
  lng: Lng
config_params:
  file: null  # path of the uploaded file (relative: to the project folder)
category_synonyms: {{}}
removal:
  after_days: null
  after_runs: null
"""


# ------------------------------------------------------------------------------------------------
# Validating and saving
# ------------------------------------------------------------------------------------------------


def parse_yaml(document: str | bytes, source: str = "<form>") -> DmoConfig:
    """Validate a YAML document; ConfigError with one message per problem, each naming its field."""
    if isinstance(document, bytes):
        if len(document) > MAX_YAML_BYTES:
            raise ConfigError(source, [f"(file): larger than {MAX_YAML_BYTES:,} bytes"])
        try:
            document = document.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConfigError(source, ["(file): not UTF-8 text"]) from None
    if len(document) > MAX_YAML_BYTES:
        raise ConfigError(source, [f"(document): longer than {MAX_YAML_BYTES:,} characters"])
    if not document.strip():
        raise ConfigError(source, ["(document): empty; paste or upload a config"])
    try:
        loaded = yaml.safe_load(document)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"(yaml): {exc}"]) from None
    return parse_config(loaded, source)


def save_yaml(
    engine: Engine,
    document: str | bytes,
    *,
    user: str,
    source: str = "admin UI",
    dmo_id: int | None = None,
    data_domain: str | None = None,
    new: bool = False,
    admin: bool = False,
) -> ApplyResult:
    """Validate and apply a YAML config as `user`, in one transaction: a new version when it changed.

    `dmo_id` / `data_domain`: the config being edited; the document must keep them (else ConfigError on
    `dmo.id` / `data_domain`). `new`: the config must not exist yet (a new DMO does not overwrite one)."""
    config = parse_yaml(document, source)
    return save_config(
        engine, config, user=user, source=source, dmo_id=dmo_id, data_domain=data_domain, new=new, admin=admin
    )


def check_target(
    config: DmoConfig, *, source: str = "admin UI", dmo_id: int | None = None, data_domain: str | None = None
) -> None:
    """ConfigError when a config does not belong to the page that edits it (DMO `dmo_id`, `data_domain`)."""
    problems = []
    if dmo_id is not None and config.dmo.id != dmo_id:
        problems.append(f"dmo.id: this page edits DMO {dmo_id}; to add DMO {config.dmo.id}, use New DMO")
    if data_domain is not None and config.data_domain.value != data_domain:
        problems.append(f"data_domain: this page edits the {data_domain} config")
    if problems:
        raise ConfigError(source, problems)


def save_config(
    engine: Engine,
    config: DmoConfig,
    *,
    user: str,
    source: str = "admin UI",
    dmo_id: int | None = None,
    data_domain: str | None = None,
    new: bool = False,
    admin: bool = False,
) -> ApplyResult:
    """Apply a validated config (from the YAML editor or the form editor) as `user`, in one transaction;
    `dmo_id`, `data_domain` and `new` as `save_yaml`. `admin`: the user has the admin role (ConfigError
    when a non-admin saves what only an admin may: `admin_only_problems`)."""
    check_target(config, source=source, dmo_id=dmo_id, data_domain=data_domain)
    with engine.begin() as conn:
        if not admin and (problems := admin_only_problems(conn, config)):
            raise ConfigError(source, problems)
        if new:
            exists = conn.execute(
                text("select 1 from pipeline.configs where dmo_id = :d and data_domain = :dd"),
                {"d": config.dmo.id, "dd": config.data_domain.value},
            ).first()
            if exists:
                raise ConfigError(
                    source,
                    [
                        f"dmo.id: DMO {config.dmo.id} already has a {config.data_domain.value} config; "
                        "edit it on its page (or import the file there)"
                    ],
                )
        return apply_config(conn, config, source, changed_by=user)


def admin_only_problems(conn: Connection, config: DmoConfig) -> list[str]:
    """What in `config` only an admin may save or test: letting requests reach loopback, private and
    link-local addresses (`config_params.allow_private_hosts`, `images.allow_private_hosts`). Anyone who
    may act keeps what an admin allowed, as long as the source's targets (base_url, config_params) stay."""
    try:
        stored: DmoConfig | None = get_config(conn, config.dmo.id, config.data_domain.value).config
    except LookupError:
        stored = None
    problems = []
    if config.config_params.get("allow_private_hosts") and not (
        stored is not None
        and stored.config_params.get("allow_private_hosts")
        and stored.base_url == config.base_url
        and stored.config_params == config.config_params
    ):
        problems.append(
            "config_params.allow_private_hosts: only an admin may let a source reach loopback, private or "
            "link-local addresses, or change the URLs or parameters of a source that may"
        )
    if config.images.allow_private_hosts and not (stored is not None and stored.images.allow_private_hosts):
        problems.append(
            "images.allow_private_hosts: only an admin may let image downloads reach loopback, private or "
            "link-local addresses"
        )
    return problems


def config_changes(conn: Connection, config: DmoConfig) -> bool:
    """True when saving `config` would change an existing config (a new version of a config that has a
    DAG); False for a new config or an identical one."""
    stored = conn.execute(
        text("select content_hash from pipeline.configs where dmo_id = :d and data_domain = :dd"),
        {"d": config.dmo.id, "dd": config.data_domain.value},
    ).scalar()
    return stored is not None and stored != content_hash(config)


# ------------------------------------------------------------------------------------------------
# Saving a config while runs of it are queued: keep them or cancel them
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedCheck:
    dag_id: str
    runs: list[dict[str, Any]]  # the DAG's queued runs (oldest first)
    problem: str | None = None  # why they could not be checked (then `runs` is empty)


def check_queued_runs(dag_id: str) -> QueuedCheck:
    """The queued runs of a config's DAG, through Airflow's REST API. Never raises: when the API is not
    configured or does not answer, `problem` says so (the save goes on, with that notice)."""
    try:
        from listings.airflow_api import queued_runs

        return QueuedCheck(dag_id, list(queued_runs(dag_id)))
    except Exception as exc:  # not configured, unreachable, refused, or no client at all
        return QueuedCheck(dag_id, [], str(exc) or type(exc).__name__)


def cancel_runs(dag_id: str, run_ids: list[str] | None, *, user: str) -> int:
    """Cancel the queued runs `run_ids` of a DAG (all queued runs when None), recorded as `user`; how many
    were cancelled. Raises the API client's error when Airflow cannot be asked."""
    from listings.airflow_api import cancel_queued_runs

    return cancel_queued_runs(dag_id, run_ids, user=user)


def set_active(
    engine: Engine, dmo_id: int, active: bool, *, user: str, data_domain: str = "listings"
) -> ApplyResult:
    """Activate or deactivate a config: a new version with `active` changed (the DAG factory only makes
    DAGs of active configs). LookupError when there is no such config; 'unchanged' when it already is."""
    with engine.begin() as conn:
        stored = get_config(conn, dmo_id, data_domain)
        changed = stored.config.model_copy(update={"active": active})
        return apply_config(conn, changed, "admin UI", changed_by=user)


# ------------------------------------------------------------------------------------------------
# Test this config
# ------------------------------------------------------------------------------------------------


def preview_yaml(
    engine: Engine,
    document: str | bytes,
    *,
    file: Path | None = None,
    limit: int = PREVIEW_LIMIT,
    admin: bool = False,
) -> Any:
    """Validate a YAML config and preview its first records (`listings.config.preview`): nothing is
    written. CSV/XLS read `file` (an upload) or the config's `config_params.file`; HTTP sources fetch.
    Raises ConfigError (invalid config, or what only an admin may test) or SourceError (nothing read)."""
    from listings.config.preview import preview

    config = parse_yaml(document)
    if not admin:
        with engine.connect() as conn:
            if problems := admin_only_problems(conn, config):
                raise ConfigError("<preview>", problems)
    if file is None:
        check_files(config, "<preview>")  # a page reads no file of the server outside the import folders
    return preview(config, limit=limit, file=file)
