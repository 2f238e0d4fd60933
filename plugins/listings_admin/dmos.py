"""The DMO pages of the admin UI: the list of configs, one config (YAML, versions, export, edit
as YAML, activate / deactivate), a new DMO (YAML form or file import) and "test this config".
What they read and change is `listings.admin.dmos`; `register(app)` adds the routes (from `create_app`).

Routes (under the mount prefix):
    GET  /dmos                              every config: type, source, schedule, active, version, last job
    GET  /dmos/new                          the YAML editor, prefilled with a CSV template
    GET  /dmos/new?mode=form                the form editor (one input per config field), same template
    POST /dmos/new[?mode=form]              validate and create (field messages on error, nothing saved)
    POST /dmos/import                       the same from an uploaded YAML file
    POST /dmos/preview[?mode=form]          test the posted YAML / form (htmx swaps #preview); writes nothing
    GET  /dmos/{id}                         YAML, version history (?version= shows an old one), edit form,
                                            uploads (csv/xls sources)
    GET  /dmos/{id}/config.yaml             download (?version=)
    POST /dmos/{id}/config                  save the edited YAML (a new version)
    GET  /dmos/{id}/edit                    the form editor of the current config
    POST /dmos/{id}/edit                    save the form (a new version)
    POST /dmos/{id}/activate|deactivate
    GET  /dmos/{id}/preview                 the stored config in the test form
    POST /dmos/{id}/preview[?mode=form]     test the posted YAML / form
    POST /dmos/{id}/upload                  store a data file (multipart `file`); `then=run` also runs it
    POST /dmos/{id}/uploads/{name}/run      run the DAG on a stored upload (conf {"file": path})
Every page takes ?domain= (default listings) for a DMO's other data domains.

Saving a changed config (YAML or form) whose DAG has queued runs saves nothing yet: the page comes back
(409) with a dialog listing the runs, whose two buttons post the validated config again as YAML with
`queued_action=keep` or `cancel` (and the listed `run_id`s). When Airflow's API is not configured or
does not answer, the save goes on and the message says the queued runs could not be checked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from listings_admin import app as core
from listings_admin.auth import ActingUser, is_admin

DOMAINS = ("listings", "reviews", "events")
MAX_UPLOAD_BYTES = 50_000_000
MAX_FORM_FIELDS = 5000  # the form editor posts a few hundred inputs (every source type's section)
QUEUED_ACTIONS = ("keep", "cancel")


def _domain(domain: str | None) -> str:
    value = domain or "listings"
    if value not in DOMAINS:
        raise core.BadRequest(f"domain must be one of {', '.join(DOMAINS)}; got {value!r}")
    return value


def _mode(mode: str | None) -> str:
    value = mode or "yaml"
    if value not in ("yaml", "form"):
        raise core.BadRequest(f"mode must be yaml or form; got {value!r}")
    return value


def _config_path(dmo_id: int, domain: str, suffix: str = "") -> str:
    return f"/dmos/{dmo_id}{suffix}" + ("" if domain == "listings" else f"?domain={domain}")


async def _posted_form(request: Request) -> Any:
    """The whole posted form (the form editor's inputs are named after config paths, not parameters)."""
    return await request.form(max_fields=MAX_FORM_FIELDS, max_files=4)


PostedForm = Annotated[Any, Depends(_posted_form)]


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _texts(form: Any, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str) and v]


def _file(form: Any, name: str) -> Any:
    """A posted file (Starlette's UploadFile, which FastAPI's subclasses), or None."""
    from starlette.datastructures import UploadFile as PostedFile

    value = form.get(name)
    return value if isinstance(value, PostedFile) and value.filename else None


# ------------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------------


def dmos_page(request: Request, user: GetUserDep) -> HTMLResponse:
    from listings.admin import dmos

    with core._engine().connect() as conn:
        rows = dmos.dmo_list(conn)
    context = {"title": "DMOs", "nav": "dmos", "rows": rows, "recent": dmos.RECENT_JOBS}
    return core.render(request, user, "dmos.html", context)


def dmo_page(
    request: Request,
    user: GetUserDep,
    dmo_id: int,
    domain: str | None = None,
    version: str | None = None,
) -> HTMLResponse:
    return _dmo_response(request, user, dmo_id, _domain(domain), version=core._int("version", version))


def _dmo_response(
    request: Request,
    user: Any,
    dmo_id: int,
    domain: str,
    *,
    version: int | None = None,
    edited: str | None = None,
    problems: list[str] | None = None,
    status_code: int = 200,
    queued: dict[str, Any] | None = None,
    upload_problem: str | None = None,
) -> HTMLResponse:
    from listings.admin import dmo_uploads, dmos
    from listings.config.store import to_yaml

    try:
        with core._engine().connect() as conn:
            page = dmos.config_page(conn, dmo_id, domain, version=version)
    except LookupError as exc:
        return core._error(request, user, str(exc).strip("'\""), 404)
    source_type = page.stored.config.source_type.value
    uploads: dict[str, Any] | None = None
    if dmo_uploads.upload_source(source_type):
        shown, total = dmo_uploads.list_uploads(dmo_id, domain)
        uploads = {
            "files": shown,
            "total": total,
            "extensions": dmo_uploads.UPLOAD_EXTENSIONS[source_type],
            "max_bytes": dmo_uploads.MAX_UPLOAD_BYTES,
            "problem": upload_problem,
            "path": _config_path(dmo_id, domain, "/upload"),
            "folder": str(dmo_uploads.upload_dir(dmo_id, domain)),
        }
    context = {
        "title": f"{page.stored.config.dmo.name} · DMO {dmo_id}",
        "nav": "dmos",
        "p": page,
        "c": page.stored.config,
        "domain": domain,
        "edit_yaml": edited if edited is not None else to_yaml(page.stored.config),
        "problems": problems or [],
        "save_path": _config_path(dmo_id, domain, "/config"),
        "preview_path": _config_path(dmo_id, domain, "/preview"),
        "form_path": _config_path(dmo_id, domain, "/edit"),
        "uploads": uploads,
        "queued": queued,
    }
    return core.render(request, user, "dmo.html", context, status_code=status_code)


def export_config(dmo_id: int, domain: str | None = None, version: str | None = None) -> Response:
    from listings.admin import dmos

    data_domain = _domain(domain)
    try:
        with core._engine().connect() as conn:
            page = dmos.config_page(conn, dmo_id, data_domain, version=core._int("version", version))
    except LookupError as exc:
        return Response(str(exc).strip("'\""), status_code=404, media_type="text/plain")
    name = f"dmo_{dmo_id}_{data_domain}" + ("" if page.shown_version == page.stored.version else
                                            f"_v{page.shown_version}")  # fmt: skip
    headers = {"Content-Disposition": f'attachment; filename="{name}.yaml"'}
    return Response(page.yaml, media_type="application/yaml; charset=utf-8", headers=headers)


def new_page(request: Request, user: GetUserDep, mode: str | None = None) -> HTMLResponse:
    from listings.admin import dmos

    with core._engine().connect() as conn:
        template = dmos.template_yaml(dmos.next_dmo_id(conn))
    if _mode(mode) == "form":
        import yaml

        from listings.admin import dmo_form

        return _form_response(request, user, dmo_form.form_values(yaml.safe_load(template)), dmo_id=None)
    return _new_response(request, user, template)


def _new_response(
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
    return core.render(request, user, "dmo_new.html", context, status_code=status_code)


# ------------------------------------------------------------------------------------------------
# The form editor
# ------------------------------------------------------------------------------------------------


def _stored_config(dmo_id: int, data_domain: str) -> Any:
    """The DMO's current config; a missing one is the app's 404 page (its message names it)."""
    from listings.config.store import get_config

    try:
        with core._engine().connect() as conn:
            return get_config(conn, dmo_id, data_domain)
    except LookupError as exc:
        raise StarletteHTTPException(404, str(exc).strip("'\"")) from None


def edit_page(request: Request, user: GetUserDep, dmo_id: int, domain: str | None = None) -> HTMLResponse:
    from listings.admin import dmo_form

    data_domain = _domain(domain)
    stored = _stored_config(dmo_id, data_domain)
    values = dmo_form.config_values(stored.config)
    return _form_response(request, user, values, dmo_id=dmo_id, domain=data_domain, version=stored.version)


def _form_response(
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
    """The form editor: a new DMO (`dmo_id` None) or one config's current version."""
    from listings.admin import dmo_form
    from listings.fields import CANONICAL_FIELDS
    from listings.sources.registry import default_mappings

    sections = dmo_form.form_sections()
    chosen = str(values.get("source_type") or "")
    if dmo_id is not None and version is None:
        from sqlalchemy import text

        with core._engine().connect() as conn:
            version = conn.execute(
                text("select version from pipeline.configs where dmo_id = :d and data_domain = :dd"),
                {"d": dmo_id, "dd": domain},
            ).scalar()
    if dmo_id is None:
        title, save_path, preview_path = "New DMO (form)", "/dmos/new?mode=form", "/dmos/preview?mode=form"
    else:
        title = f"Edit DMO {dmo_id} ({domain})"
        save_path = _config_path(dmo_id, domain, "/edit")
        preview_path = _config_path(dmo_id, domain, "/preview") + ("&" if domain != "listings" else "?")
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
        "yaml_path": _config_path(dmo_id, domain) + "#edit" if dmo_id is not None else "/dmos/new",
        "defaults": {st: default_mappings(st) for st in (s.source_type for s in sections) if st},
        "canonical_fields": CANONICAL_FIELDS,
        "queued": queued,
        "outcome": None,
    }
    return core.render(request, user, "dmo_form.html", context, status_code=status_code)


def _form_config(form: Any) -> Any:
    """The posted form as a config; FormError (by input) when it is not one."""
    from listings.admin import dmo_form

    return dmo_form.config_from_form(form)


def save_form(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    form: PostedForm,
    dmo_id: int,
    domain: str | None = None,
) -> Response:
    from listings.admin import dmo_form
    from listings.config.store import ConfigError

    data_domain = _domain(domain)

    def again(error: Any = None, status_code: int = 400, queued: dict[str, Any] | None = None) -> Response:
        values = error.values if error is not None else dmo_form.posted_values(form)
        return _form_response(request, user, values, dmo_id=dmo_id, domain=data_domain, error=error,
                              status_code=status_code, queued=queued)  # fmt: skip

    try:
        config = _form_config(form)
    except dmo_form.FormError as exc:
        return again(exc)

    def refused(exc: ConfigError) -> Response:
        source_type = config.source_type.value
        return again(dmo_form.form_error_from_config_error(exc, dmo_form.posted_values(form), source_type))

    return _save_checked(
        request,
        user,
        acting,
        config,
        dmo_id=dmo_id,
        data_domain=data_domain,
        queued_action=_text(form, "queued_action"),
        run_ids=_texts(form, "run_id"),
        on_queued=lambda queued: again(status_code=409, queued=queued),
        on_error=refused,
    )


# ------------------------------------------------------------------------------------------------
# Changing
# ------------------------------------------------------------------------------------------------


def _saved(request: Request, result: Any, notes: list[str] | None = None, kind: str = "success") -> Response:
    what = {"created": "created", "updated": "saved as", "unchanged": "unchanged:"}[result.action]
    message = " ".join([f"DMO {result.dmo_id} ({result.data_domain}) {what} version {result.version}.",
                        *(notes or [])])  # fmt: skip
    path = core._url(request, _config_path(result.dmo_id, result.data_domain))
    return core._redirect(request, path, kind, message)


def _runs(n: int) -> str:
    return f"{n} queued run{'' if n == 1 else 's'}"


def _save_checked(
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
        with core._engine().connect() as conn:
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
                        "save_path": _config_path(config.dmo.id, config.data_domain.value, "/config"),
                    }
                )
    try:
        result = dmos.save_config(core._engine(), config, user=acting, source=source, dmo_id=dmo_id,
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


def create_dmo(
    request: Request, user: GetUserDep, acting: ActingUser, form: PostedForm, mode: str | None = None
) -> Response:
    from listings.admin import dmo_form, dmos
    from listings.config.store import ConfigError

    if _mode(mode) == "form":
        try:
            config = _form_config(form)
        except dmo_form.FormError as exc:
            return _form_response(request, user, exc.values, dmo_id=None, error=exc, status_code=400)

        def refused(exc: ConfigError) -> Response:
            error = dmo_form.form_error_from_config_error(
                exc, dmo_form.posted_values(form), config.source_type.value
            )
            return _form_response(request, user, error.values, dmo_id=None, error=error, status_code=400)

        return _save_checked(request, user, acting, config, new=True, on_queued=_never, on_error=refused)
    yaml = _text(form, "yaml")
    try:
        config = dmos.parse_yaml(yaml)
    except ConfigError as exc:
        return _new_response(request, user, yaml, exc.problems, status_code=400)
    return _save_checked(
        request,
        user,
        acting,
        config,
        new=True,
        on_queued=_never,
        on_error=lambda exc: _new_response(request, user, yaml, exc.problems, status_code=400),
    )


def _never(queued: dict[str, Any]) -> Response:  # a new config has no DAG, hence no queued run
    raise AssertionError("a new config has no queued runs")


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
        return _new_response(request, user, "", ["(file): choose a YAML file to import"], status_code=400)
    data = config_file.file.read(dmos.MAX_YAML_BYTES + 1)
    source = f"upload {Path(config_file.filename).name}"
    shown = data.decode("utf-8", errors="replace")[: dmos.MAX_YAML_BYTES]
    try:
        config = dmos.parse_yaml(data, source)
    except ConfigError as exc:
        return _new_response(request, user, shown, exc.problems, status_code=400)
    return _save_checked(
        request,
        user,
        acting,
        config,
        source=source,
        on_queued=lambda queued: _new_response(request, user, shown, status_code=409, queued=queued),
        on_error=lambda exc: _new_response(request, user, shown, exc.problems, status_code=400),
    )


def save_config(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    dmo_id: int,
    domain: str | None = None,
    yaml: Annotated[str, Form()] = "",
    queued_action: Annotated[str, Form()] = "",
    run_id: Annotated[list[str] | None, Form()] = None,
) -> Response:
    from listings.admin import dmos
    from listings.config.store import ConfigError

    data_domain = _domain(domain)

    def again(problems: list[str] | None = None, status_code: int = 400, queued: Any = None) -> Response:
        return _dmo_response(request, user, dmo_id, data_domain, edited=yaml, problems=problems,
                             status_code=status_code, queued=queued)  # fmt: skip

    try:
        config = dmos.parse_yaml(yaml)
    except ConfigError as exc:
        return again(exc.problems)
    return _save_checked(
        request,
        user,
        acting,
        config,
        dmo_id=dmo_id,
        data_domain=data_domain,
        queued_action=queued_action,
        run_ids=[r for r in run_id or [] if r],
        on_queued=lambda queued: again(status_code=409, queued=queued),
        on_error=lambda exc: again(exc.problems),
    )


def set_active(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    dmo_id: int,
    action: str,
    domain: str | None = None,
) -> Response:
    from listings.admin import dmos

    if action not in ("activate", "deactivate"):
        return core._error(request, user, f"Unknown action {action!r}.", 404)
    data_domain = _domain(domain)
    try:
        result = dmos.set_active(core._engine(), dmo_id, action == "activate", user=acting,
                                 data_domain=data_domain)  # fmt: skip
    except LookupError as exc:
        return core._error(request, user, str(exc).strip("'\""), 404)
    state = "active" if action == "activate" else "inactive"
    message = (
        f"DMO {dmo_id} ({data_domain}) was already {state}."
        if result.action == "unchanged"
        else f"DMO {dmo_id} ({data_domain}) is now {state} (version {result.version})."
    )
    return core._redirect(request, core._url(request, _config_path(dmo_id, data_domain)), "success", message)


# ------------------------------------------------------------------------------------------------
# Uploads (csv / xls sources)
# ------------------------------------------------------------------------------------------------


def upload_file(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    dmo_id: int,
    domain: str | None = None,
    file: Annotated[UploadFile | None, File()] = None,
    then: Annotated[str, Form()] = "store",
) -> Response:
    """Store a data file for the DMO (checked; refused with a message and nothing kept), then run the DAG
    on it when `then` is "run"."""
    from listings.admin import dmo_uploads

    data_domain = _domain(domain)
    stored = _stored_config(dmo_id, data_domain)
    if then not in ("store", "run"):
        raise core.BadRequest(f"then must be store or run; got {then!r}")
    source_type = stored.config.source_type.value
    if not dmo_uploads.upload_source(source_type):
        message = (
            f"DMO {dmo_id} has a {source_type} source, which reads no uploaded file (only csv and xls do)."
        )
        return core._error(request, user, message, 400)
    if file is None or not file.filename:
        return _dmo_response(request, user, dmo_id, data_domain, status_code=400,
                             upload_problem="Choose a file to upload.")  # fmt: skip
    try:
        upload = dmo_uploads.store_upload(
            file.file,
            file.filename,
            dmo_id=dmo_id,
            data_domain=data_domain,
            source_type=source_type,
            user=acting,
        )
    except dmo_uploads.UploadRefused as exc:
        return _dmo_response(request, user, dmo_id, data_domain, status_code=400,
                             upload_problem=f"Not stored: {exc}.")  # fmt: skip
    stored_message = f"Stored {upload.name} ({upload.size:,} bytes)."
    if then == "store":
        path = core._url(request, _config_path(dmo_id, data_domain) + "#uploads")
        return core._redirect(request, path, "success", stored_message)
    return _run_upload(request, user, acting, dmo_id, data_domain, upload.name, stored_message)


def run_upload(
    request: Request, user: GetUserDep, acting: ActingUser, dmo_id: int, name: str, domain: str | None = None
) -> Response:
    return _run_upload(request, user, acting, dmo_id, _domain(domain), name, "")


def _run_upload(
    request: Request, user: Any, acting: str, dmo_id: int, domain: str, name: str, before: str
) -> Response:
    from listings.admin import dmo_uploads
    from listings.admin.jobs import RunRefused

    path = core._url(request, _config_path(dmo_id, domain) + "#uploads")
    try:
        with core._engine().connect() as conn:
            run = dmo_uploads.run_upload(conn, dmo_id, domain, name, user=acting)
    except LookupError as exc:
        return core._error(request, user, str(exc).strip("'\""), 404)
    except RunRefused as exc:
        return core._redirect(request, path, "error", f"{before} Not run: {exc}".strip())
    return core._redirect(request, path, "success", f"{before} {run.message}".strip())


# ------------------------------------------------------------------------------------------------
# Test this config
# ------------------------------------------------------------------------------------------------


def preview_page(request: Request, user: GetUserDep, dmo_id: int, domain: str | None = None) -> HTMLResponse:
    from listings.config.store import to_yaml

    data_domain = _domain(domain)
    stored = _stored_config(dmo_id, data_domain)
    return _preview_response(request, user, to_yaml(stored.config), None, dmo_id, data_domain)


def _preview_response(
    request: Request,
    user: Any,
    edited: str,
    outcome: dict[str, Any] | None,
    dmo_id: int | None,
    domain: str,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "title": f"Test the config of DMO {dmo_id}" if dmo_id else "Test a config",
        "nav": "dmos",
        "dmo_id": dmo_id,
        "domain": domain,
        "edit_yaml": edited,
        "problems": [],
        "save_path": _config_path(dmo_id, domain, "/config") if dmo_id else "/dmos/new",
        "preview_path": _config_path(dmo_id, domain, "/preview") if dmo_id else "/dmos/preview",
        "outcome": outcome,
    }
    if request.headers.get("HX-Request") == "true":  # the Test button: only the result
        return core.render(request, user, "_dmo_preview.html", context)
    return core.render(request, user, "dmo_preview.html", context)


def _run_preview(yaml: str, file: Any, user: Any) -> dict[str, Any]:
    """The preview of the posted YAML (and upload), or its problems: {"preview": ...} / {"problems": [...]}."""
    from listings.admin import dmos
    from listings.config.store import ConfigError
    from listings.sources.base import SourceError
    from listings.sources.files import scratch_dir

    with scratch_dir() as tmp:
        path: Path | None = None
        if file is not None and file.filename:
            path = Path(tmp) / ("upload" + Path(file.filename).suffix.lower()[:8])
            data = file.file.read(MAX_UPLOAD_BYTES + 1)
            if len(data) > MAX_UPLOAD_BYTES:
                return {"problems": [f"(file): larger than {MAX_UPLOAD_BYTES:,} bytes"]}
            path.write_bytes(data)
        try:
            result = dmos.preview_yaml(core._engine(), yaml, file=path, admin=is_admin(user))
        except ConfigError as exc:
            return {"problems": exc.problems}
        except SourceError as exc:
            return {"problems": [f"(source): {exc}"]}
        except Exception as exc:  # a fetch failing in any other way is still an answer to "test this"
            return {"problems": [f"(source): {type(exc).__name__}: {exc}"]}
    return {"preview": result}


def _posted_yaml(form: Any, mode: str) -> tuple[str, list[str]]:
    """The YAML of a posted YAML editor, or of a posted form editor (its problems when it is invalid)."""
    if mode == "yaml":
        return _text(form, "yaml"), []
    from listings.admin import dmo_form
    from listings.config.store import to_yaml

    try:
        return to_yaml(_form_config(form)), []
    except dmo_form.FormError as exc:
        return "", exc.problems


def preview_posted(
    request: Request, user: GetUserDep, acting: ActingUser, form: PostedForm, mode: str | None = None
) -> HTMLResponse:
    yaml, problems = _posted_yaml(form, _mode(mode))
    outcome = {"problems": problems} if problems else _run_preview(yaml, _file(form, "file"), user)
    return _preview_response(request, user, yaml, outcome, None, "listings")


def preview_config(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    form: PostedForm,
    dmo_id: int,
    domain: str | None = None,
    mode: str | None = None,
) -> HTMLResponse:
    data_domain = _domain(domain)
    yaml, problems = _posted_yaml(form, _mode(mode))
    outcome = {"problems": problems} if problems else _run_preview(yaml, _file(form, "file"), user)
    return _preview_response(request, user, yaml, outcome, dmo_id, data_domain)


def register(app: FastAPI) -> None:
    app.add_api_route("/dmos", dmos_page, methods=["GET"])
    app.add_api_route("/dmos/new", new_page, methods=["GET"])
    app.add_api_route("/dmos/new", create_dmo, methods=["POST"])
    app.add_api_route("/dmos/import", import_dmo, methods=["POST"])
    app.add_api_route("/dmos/preview", preview_posted, methods=["POST"])
    app.add_api_route("/dmos/{dmo_id:int}", dmo_page, methods=["GET"])
    app.add_api_route("/dmos/{dmo_id:int}/config.yaml", export_config, methods=["GET"])
    app.add_api_route("/dmos/{dmo_id:int}/config", save_config, methods=["POST"])
    app.add_api_route("/dmos/{dmo_id:int}/edit", edit_page, methods=["GET"])
    app.add_api_route("/dmos/{dmo_id:int}/edit", save_form, methods=["POST"])
    app.add_api_route("/dmos/{dmo_id:int}/preview", preview_page, methods=["GET"])
    app.add_api_route("/dmos/{dmo_id:int}/preview", preview_config, methods=["POST"])
    app.add_api_route("/dmos/{dmo_id:int}/upload", upload_file, methods=["POST"])
    app.add_api_route("/dmos/{dmo_id:int}/uploads/{name}/run", run_upload, methods=["POST"])
    app.add_api_route("/dmos/{dmo_id:int}/{action}", set_active, methods=["POST"])
