"""The DMO pages of the admin UI: the list of configs and one config's page (YAML, versions, export,
activate / deactivate, uploads). Editing a config is `dmo_config.py`, "test this config" `dmo_preview.py`;
both use this module's helpers (the data domain, the config's paths, the posted form, the DMO's page).
What they read and change is `listings.admin.dmos`.

Routes (under the mount prefix):
    GET  /dmos                              every config: type, source, schedule, active, version, last job
    GET  /dmos/{id}                         YAML, version history (?version= shows an old one), edit form,
                                            uploads (csv/xls sources)
    GET  /dmos/{id}/config.yaml             download (?version=)
    POST /dmos/{id}/activate|deactivate
    POST /dmos/{id}/upload                  store a data file (multipart `file`); `then=run` also runs it
    POST /dmos/{id}/uploads/{name}/run      run the DAG on a stored upload (conf {"file": path})
Every page takes ?domain= (default listings) for a DMO's other data domains.

`POST /dmos/{id}/{action}` takes any action name (an unknown one is a 404 page): `main.create_app` includes
this router after `dmo_config` and `dmo_preview`, whose POST /dmos/{id}/config, /edit and /preview it would
otherwise take.
"""

from __future__ import annotations

from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from listings_admin.auth import ActingUser
from listings_admin.deps import Conn, OptionalInt, engine
from listings_admin.rendering import BadRequest, NotFound, error_page, redirect, render, url

router = APIRouter()

DOMAINS = ("listings", "reviews", "events")
MAX_FORM_FIELDS = 5000  # the form editor posts a few hundred inputs (every source type's section)


# ------------------------------------------------------------------------------------------------
# Shared by the DMO pages
# ------------------------------------------------------------------------------------------------


def data_domain(domain: str | None = None) -> str:
    """Dependency: the `?domain=` of the page (default listings)."""
    value = domain or "listings"
    if value not in DOMAINS:
        raise BadRequest(f"domain must be one of {', '.join(DOMAINS)}; got {value!r}")
    return value


DataDomain = Annotated[str, Depends(data_domain)]


def editor_mode(mode: str | None = None) -> str:
    """Dependency: the `?mode=` of an editor: yaml (default) or form."""
    value = mode or "yaml"
    if value not in ("yaml", "form"):
        raise BadRequest(f"mode must be yaml or form; got {value!r}")
    return value


EditorMode = Annotated[str, Depends(editor_mode)]


def config_path(dmo_id: int, domain: str, suffix: str = "") -> str:
    """The path of a DMO's page (+ `suffix`), with its domain when it is not listings."""
    return f"/dmos/{dmo_id}{suffix}" + ("" if domain == "listings" else f"?domain={domain}")


async def posted_form(request: Request) -> Any:
    """Dependency: the whole posted form (the form editor's inputs are named after config paths, not
    parameters)."""
    return await request.form(max_fields=MAX_FORM_FIELDS, max_files=4)


PostedForm = Annotated[Any, Depends(posted_form)]


def form_text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def form_texts(form: Any, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str) and v]


def form_file(form: Any, name: str) -> Any:
    """A posted file (Starlette's UploadFile, which FastAPI's subclasses), or None."""
    from starlette.datastructures import UploadFile as PostedFile

    value = form.get(name)
    return value if isinstance(value, PostedFile) and value.filename else None


def stored_config(conn: Connection, dmo_id: int, domain: str) -> Any:
    """The DMO's current config; NotFound (its message names it) when there is none."""
    from listings.config.store import get_config

    try:
        return get_config(conn, dmo_id, domain)
    except LookupError as exc:
        raise NotFound(str(exc).strip("'\"")) from None


# ------------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------------


@router.get("/dmos")
def dmos_page(request: Request, user: GetUserDep, conn: Conn) -> HTMLResponse:
    from listings.admin import dmos

    context = {"title": "DMOs", "nav": "dmos", "rows": dmos.dmo_list(conn), "recent": dmos.RECENT_JOBS}
    return render(request, user, "dmos.html", context)


@router.get("/dmos/{dmo_id:int}")
def dmo_page(
    request: Request,
    user: GetUserDep,
    conn: Conn,
    dmo_id: int,
    domain: DataDomain,
    version: OptionalInt = None,
) -> HTMLResponse:
    return dmo_response(request, user, conn, dmo_id, domain, version=version)


def dmo_response(
    request: Request,
    user: Any,
    conn: Connection,
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
    """The DMO's page (also the page a rejected edit or upload comes back to: `edited` YAML, `problems`,
    the queued-runs dialog, `upload_problem`)."""
    from listings.admin import dmo_uploads, dmos
    from listings.config.store import to_yaml

    try:
        page = dmos.config_page(conn, dmo_id, domain, version=version)
    except LookupError as exc:
        raise NotFound(str(exc).strip("'\"")) from None
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
            "path": config_path(dmo_id, domain, "/upload"),
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
        "save_path": config_path(dmo_id, domain, "/config"),
        "preview_path": config_path(dmo_id, domain, "/preview"),
        "form_path": config_path(dmo_id, domain, "/edit"),
        "uploads": uploads,
        "queued": queued,
    }
    return render(request, user, "dmo.html", context, status_code=status_code)


@router.get("/dmos/{dmo_id:int}/config.yaml")
def export_config(conn: Conn, dmo_id: int, domain: DataDomain, version: OptionalInt = None) -> Response:
    from listings.admin import dmos

    try:
        page = dmos.config_page(conn, dmo_id, domain, version=version)
    except LookupError as exc:
        return Response(str(exc).strip("'\""), status_code=404, media_type="text/plain")
    name = f"dmo_{dmo_id}_{domain}" + ("" if page.shown_version == page.stored.version else
                                       f"_v{page.shown_version}")  # fmt: skip
    headers = {"Content-Disposition": f'attachment; filename="{name}.yaml"'}
    return Response(page.yaml, media_type="application/yaml; charset=utf-8", headers=headers)


# ------------------------------------------------------------------------------------------------
# Uploads (csv / xls sources)
# ------------------------------------------------------------------------------------------------


@router.post("/dmos/{dmo_id:int}/upload")
def upload_file(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    conn: Conn,
    dmo_id: int,
    domain: DataDomain,
    file: Annotated[UploadFile | None, File()] = None,
    then: Annotated[str, Form()] = "store",
) -> Response:
    """Store a data file for the DMO (checked; refused with a message and nothing kept), then run the DAG
    on it when `then` is "run"."""
    from listings.admin import dmo_uploads

    stored = stored_config(conn, dmo_id, domain)
    if then not in ("store", "run"):
        raise BadRequest(f"then must be store or run; got {then!r}")
    source_type = stored.config.source_type.value
    if not dmo_uploads.upload_source(source_type):
        message = (
            f"DMO {dmo_id} has a {source_type} source, which reads no uploaded file (only csv and xls do)."
        )
        return error_page(request, user, message, 400)
    if file is None or not file.filename:
        return dmo_response(request, user, conn, dmo_id, domain, status_code=400,
                            upload_problem="Choose a file to upload.")  # fmt: skip
    try:
        upload = dmo_uploads.store_upload(
            file.file, file.filename, dmo_id=dmo_id, data_domain=domain, source_type=source_type, user=acting
        )
    except dmo_uploads.UploadRefused as exc:
        return dmo_response(request, user, conn, dmo_id, domain, status_code=400,
                            upload_problem=f"Not stored: {exc}.")  # fmt: skip
    stored_message = f"Stored {upload.name} ({upload.size:,} bytes)."
    if then == "store":
        path = url(request, config_path(dmo_id, domain) + "#uploads")
        return redirect(request, path, "success", stored_message)
    return _run_upload(request, conn, acting, dmo_id, domain, upload.name, stored_message)


@router.post("/dmos/{dmo_id:int}/uploads/{name}/run")
def run_upload(
    request: Request, acting: ActingUser, conn: Conn, dmo_id: int, name: str, domain: DataDomain
) -> Response:
    return _run_upload(request, conn, acting, dmo_id, domain, name, "")


def _run_upload(
    request: Request, conn: Connection, acting: str, dmo_id: int, domain: str, name: str, before: str
) -> Response:
    from listings.admin import dmo_uploads
    from listings.admin.jobs import RunRefused

    path = url(request, config_path(dmo_id, domain) + "#uploads")
    try:
        run = dmo_uploads.run_upload(conn, dmo_id, domain, name, user=acting)
    except LookupError as exc:
        raise NotFound(str(exc).strip("'\"")) from None
    except RunRefused as exc:
        return redirect(request, path, "error", f"{before} Not run: {exc}".strip())
    return redirect(request, path, "success", f"{before} {run.message}".strip())


# ------------------------------------------------------------------------------------------------
# Activate / deactivate (last: POST /dmos/{id}/{action} would take the other routes' paths)
# ------------------------------------------------------------------------------------------------


@router.post("/dmos/{dmo_id:int}/{action}")
def set_active(
    request: Request, acting: ActingUser, dmo_id: int, action: str, domain: DataDomain
) -> Response:
    from listings.admin import dmos

    if action not in ("activate", "deactivate"):
        raise NotFound(f"Unknown action {action!r}.")
    try:  # a new version, saved in a transaction of its own
        result = dmos.set_active(engine(), dmo_id, action == "activate", user=acting, data_domain=domain)
    except LookupError as exc:
        raise NotFound(str(exc).strip("'\"")) from None
    state = "active" if action == "activate" else "inactive"
    message = (
        f"DMO {dmo_id} ({domain}) was already {state}."
        if result.action == "unchanged"
        else f"DMO {dmo_id} ({domain}) is now {state} (version {result.version})."
    )
    return redirect(request, url(request, config_path(dmo_id, domain)), "success", message)
