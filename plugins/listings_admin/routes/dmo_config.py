"""Editing DMO configs in the admin UI: a new DMO (YAML editor, form editor or file import), a config's
YAML saved as a new version, and the form editor of a config. What they validate and save is
`listings.admin.dmos` and `listings.admin.dmo_form`; the DMO's page they come back to is `dmos.py`.

Routes (under the mount prefix):
    GET  /dmos/new                          the YAML editor, prefilled with a CSV template
    GET  /dmos/new?mode=form                the form editor (one input per config field), same template
    POST /dmos/new[?mode=form]              validate and create (field messages on error, nothing saved)
    POST /dmos/import                       the same from an uploaded YAML file
    POST /dmos/{id}/config                  save the edited YAML (a new version)
    GET  /dmos/{id}/edit                    the form editor of the current config
    POST /dmos/{id}/edit                    save the form (a new version)
Every page takes ?domain= (default listings) for a DMO's other data domains.

Saving a changed config (YAML or form) whose DAG has queued runs saves nothing yet: the page comes back
(409) with a dialog listing the runs, whose two buttons post the validated config again as YAML with
`queued_action=keep` or `cancel` (and the listed `run_id`s). When Airflow's API is not configured or
does not answer, the save goes on and the message says the queued runs could not be checked.

The POSTs save in a transaction of their own (`dmos.save_config`), so they take no `Conn`: a page they
render again reads through a connection opened for it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from listings_admin.auth import ActingUser, is_admin
from listings_admin.deps import Conn, engine
from listings_admin.rendering import redirect, render, url
from listings_admin.routes.dmos import (
    DataDomain,
    EditorMode,
    PostedForm,
    config_path,
    dmo_response,
    form_text,
    form_texts,
    stored_config,
)

router = APIRouter()

QUEUED_ACTIONS = ("keep", "cancel")


# ------------------------------------------------------------------------------------------------
# A new DMO
# ------------------------------------------------------------------------------------------------


@router.get("/dmos/new")
def new_page(request: Request, user: GetUserDep, conn: Conn, mode: EditorMode) -> HTMLResponse:
    from listings.admin import dmos

    template = dmos.template_yaml(dmos.next_dmo_id(conn))
    if mode == "form":
        import yaml

        from listings.admin import dmo_form

        return form_response(request, user, dmo_form.form_values(yaml.safe_load(template)), dmo_id=None)
    return new_response(request, user, template)


def new_response(
    request: Request,
    user: Any,
    edited: str,
    problems: list[str] | None = None,
    status_code: int = 200,
    queued: dict[str, Any] | None = None,
) -> HTMLResponse:
    context = {
        "title": "New DMO",
        "nav": "dmos",
        "edit_yaml": edited,
        "problems": problems or [],
        "save_path": "/dmos/new",
        "preview_path": "/dmos/preview",
        "queued": queued,
    }
    return render(request, user, "dmo_new.html", context, status_code=status_code)


@router.post("/dmos/new")
def create_dmo(
    request: Request, user: GetUserDep, acting: ActingUser, form: PostedForm, mode: EditorMode
) -> Response:
    from listings.admin import dmo_form, dmos
    from listings.config.store import ConfigError

    if mode == "form":
        try:
            config = dmo_form.config_from_form(form)
        except dmo_form.FormError as exc:
            return form_response(request, user, exc.values, dmo_id=None, error=exc, status_code=400)

        def refused(exc: ConfigError) -> Response:
            error = dmo_form.form_error_from_config_error(
                exc, dmo_form.posted_values(form), config.source_type.value
            )
            return form_response(request, user, error.values, dmo_id=None, error=error, status_code=400)

        return save_checked(request, user, acting, config, new=True, on_queued=_never, on_error=refused)
    yaml = form_text(form, "yaml")
    try:
        config = dmos.parse_yaml(yaml)
    except ConfigError as exc:
        return new_response(request, user, yaml, exc.problems, status_code=400)
    return save_checked(
        request,
        user,
        acting,
        config,
        new=True,
        on_queued=_never,
        on_error=lambda exc: new_response(request, user, yaml, exc.problems, status_code=400),
    )


def _never(queued: dict[str, Any]) -> Response:  # a new config has no DAG, hence no queued run
    raise AssertionError("a new config has no queued runs")


@router.post("/dmos/import")
def import_dmo(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    config_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Import a YAML file: a new DMO, or a new version of an existing one (as `listings config apply`)."""
    from listings.admin import dmos
    from listings.config.store import ConfigError

    if config_file is None or not config_file.filename:
        return new_response(request, user, "", ["(file): choose a YAML file to import"], status_code=400)
    data = config_file.file.read(dmos.MAX_YAML_BYTES + 1)
    source = f"upload {Path(config_file.filename).name}"
    shown = data.decode("utf-8", errors="replace")[: dmos.MAX_YAML_BYTES]
    try:
        config = dmos.parse_yaml(data, source)
    except ConfigError as exc:
        return new_response(request, user, shown, exc.problems, status_code=400)
    return save_checked(
        request,
        user,
        acting,
        config,
        source=source,
        on_queued=lambda queued: new_response(request, user, shown, status_code=409, queued=queued),
        on_error=lambda exc: new_response(request, user, shown, exc.problems, status_code=400),
    )


# ------------------------------------------------------------------------------------------------
# A config's YAML
# ------------------------------------------------------------------------------------------------


@router.post("/dmos/{dmo_id:int}/config")
def save_config(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    dmo_id: int,
    domain: DataDomain,
    yaml: Annotated[str, Form()] = "",
    queued_action: Annotated[str, Form()] = "",
    run_id: Annotated[list[str] | None, Form()] = None,
) -> Response:
    from listings.admin import dmos
    from listings.config.store import ConfigError

    def again(problems: list[str] | None = None, status_code: int = 400, queued: Any = None) -> Response:
        with engine().connect() as conn:
            return dmo_response(request, user, conn, dmo_id, domain, edited=yaml, problems=problems,
                                status_code=status_code, queued=queued)  # fmt: skip

    try:
        config = dmos.parse_yaml(yaml)
    except ConfigError as exc:
        return again(exc.problems)
    return save_checked(
        request,
        user,
        acting,
        config,
        dmo_id=dmo_id,
        data_domain=domain,
        queued_action=queued_action,
        run_ids=[r for r in run_id or [] if r],
        on_queued=lambda queued: again(status_code=409, queued=queued),
        on_error=lambda exc: again(exc.problems),
    )


# ------------------------------------------------------------------------------------------------
# The form editor
# ------------------------------------------------------------------------------------------------


@router.get("/dmos/{dmo_id:int}/edit")
def edit_page(
    request: Request, user: GetUserDep, conn: Conn, dmo_id: int, domain: DataDomain
) -> HTMLResponse:
    from listings.admin import dmo_form

    stored = stored_config(conn, dmo_id, domain)
    values = dmo_form.config_values(stored.config)
    return form_response(request, user, values, dmo_id=dmo_id, domain=domain, version=stored.version)


def form_response(
    request: Request,
    user: Any,
    values: dict[str, Any],
    *,
    dmo_id: int | None,
    domain: str = "listings",
    version: int | None = None,
    error: Any = None,
    status_code: int = 200,
    queued: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The form editor: a new DMO (`dmo_id` None) or one config's current version (read when `version` is
    not given: a rejected save)."""
    from listings.admin import dmo_form
    from listings.fields import CANONICAL_FIELDS
    from listings.sources.registry import default_mappings

    sections = dmo_form.form_sections()
    chosen = str(values.get("source_type") or "")
    if dmo_id is not None and version is None:
        from sqlalchemy import text

        with engine().connect() as conn:
            version = conn.execute(
                text("select version from pipeline.configs where dmo_id = :d and data_domain = :dd"),
                {"d": dmo_id, "dd": domain},
            ).scalar()
    if dmo_id is None:
        title, save_path, preview_path = "New DMO (form)", "/dmos/new?mode=form", "/dmos/preview?mode=form"
    else:
        title = f"Edit DMO {dmo_id} ({domain})"
        save_path = config_path(dmo_id, domain, "/edit")
        preview_path = config_path(dmo_id, domain, "/preview") + ("&" if domain != "listings" else "?")
        preview_path += "mode=form"
    context = {
        "title": title,
        "nav": "dmos",
        "dmo_id": dmo_id,
        "domain": domain,
        "version": version,
        "sections": sections,
        "values": values,
        "chosen": chosen,
        "errors": error.errors if error is not None else {},
        "general": error.general if error is not None else [],
        "problems": error.problems if error is not None else [],
        "save_path": save_path,
        "preview_path": preview_path,
        "yaml_path": config_path(dmo_id, domain) + "#edit" if dmo_id is not None else "/dmos/new",
        "defaults": {st: default_mappings(st) for st in (s.source_type for s in sections) if st},
        "canonical_fields": CANONICAL_FIELDS,
        "queued": queued,
        "outcome": None,
    }
    return render(request, user, "dmo_form.html", context, status_code=status_code)


@router.post("/dmos/{dmo_id:int}/edit")
def save_form(
    request: Request, user: GetUserDep, acting: ActingUser, form: PostedForm, dmo_id: int, domain: DataDomain
) -> Response:
    from listings.admin import dmo_form
    from listings.config.store import ConfigError

    def again(error: Any = None, status_code: int = 400, queued: dict[str, Any] | None = None) -> Response:
        values = error.values if error is not None else dmo_form.posted_values(form)
        return form_response(request, user, values, dmo_id=dmo_id, domain=domain, error=error,
                             status_code=status_code, queued=queued)  # fmt: skip

    try:
        config = dmo_form.config_from_form(form)
    except dmo_form.FormError as exc:
        return again(exc)

    def refused(exc: ConfigError) -> Response:
        source_type = config.source_type.value
        return again(dmo_form.form_error_from_config_error(exc, dmo_form.posted_values(form), source_type))

    return save_checked(
        request,
        user,
        acting,
        config,
        dmo_id=dmo_id,
        data_domain=domain,
        queued_action=form_text(form, "queued_action"),
        run_ids=form_texts(form, "run_id"),
        on_queued=lambda queued: again(status_code=409, queued=queued),
        on_error=refused,
    )


# ------------------------------------------------------------------------------------------------
# Saving
# ------------------------------------------------------------------------------------------------


def _saved(request: Request, result: Any, notes: list[str] | None = None, kind: str = "success") -> Response:
    what = {"created": "created", "updated": "saved as", "unchanged": "unchanged:"}[result.action]
    message = " ".join([f"DMO {result.dmo_id} ({result.data_domain}) {what} version {result.version}.",
                        *(notes or [])])  # fmt: skip
    path = url(request, config_path(result.dmo_id, result.data_domain))
    return redirect(request, path, kind, message)


def _runs(n: int) -> str:
    return f"{n} queued run{'' if n == 1 else 's'}"


def save_checked(
    request: Request,
    user: Any,
    acting: str,
    config: Any,
    *,
    dmo_id: int | None = None,
    data_domain: str | None = None,
    new: bool = False,
    source: str = "admin UI",
    queued_action: str = "",
    run_ids: list[str] | None = None,
    on_queued: Callable[[dict[str, Any]], Response],
    on_error: Callable[[Any], Response],
) -> Response:
    """Save a validated config, unless it changes a config whose DAG has queued runs and the user has not
    chosen yet what to do with them: then `on_queued(dialog)` (the editor again, with the dialog).
    `queued_action` keep / cancel: save, then keep or cancel the runs `run_ids`."""
    from listings.admin import dmos
    from listings.config.store import ConfigError, to_yaml

    notes: list[str] = []
    kind = "success"
    try:
        dmos.check_target(config, source=source, dmo_id=dmo_id, data_domain=data_domain)
    except ConfigError as exc:
        return on_error(exc)
    if not new and queued_action not in QUEUED_ACTIONS:
        with engine().connect() as conn:  # closed before the save's own transaction
            changes = dmos.config_changes(conn, config)
        if changes:
            check = dmos.check_queued_runs(config.dag_id)
            if check.problem:
                notes.append(f"Queued runs of {config.dag_id} could not be checked: {check.problem}")
            elif check.runs:
                return on_queued(
                    {
                        "dag_id": check.dag_id,
                        "runs": check.runs,
                        "yaml": to_yaml(config),
                        "save_path": config_path(config.dmo.id, config.data_domain.value, "/config"),
                    }
                )
    try:
        result = dmos.save_config(engine(), config, user=acting, source=source, dmo_id=dmo_id,
                                  data_domain=data_domain, new=new, admin=is_admin(user))  # fmt: skip
    except ConfigError as exc:
        return on_error(exc)
    if queued_action == "cancel":
        try:
            cancelled = dmos.cancel_runs(config.dag_id, run_ids or None, user=acting)
            notes.append(f"Cancelled {_runs(cancelled)} of {config.dag_id}.")
        except Exception as exc:  # Airflow's API failing in any way: the config is saved all the same
            kind = "error"
            notes.append(f"The queued runs of {config.dag_id} could not be cancelled: {exc}")
    elif queued_action == "keep":
        notes.append(f"Kept {_runs(len(run_ids or []))} of {config.dag_id}.")
    return _saved(request, result, notes, kind)
