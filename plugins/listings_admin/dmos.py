"""The DMO pages of the admin UI (issue 7): the list of configs, one config (YAML, versions, export, edit
as YAML, activate / deactivate), a new DMO (YAML form or file import) and "test this config".
What they read and change is `listings.admin.dmos`; `register(app)` adds the routes (from `create_app`).

Routes (under the mount prefix):
    GET  /dmos                              every config: type, source, schedule, active, version, last job
    GET  /dmos/new                          the YAML form, prefilled with a CSV template
    POST /dmos/new                          validate and create (field messages on error, nothing saved)
    POST /dmos/import                       the same from an uploaded YAML file
    POST /dmos/preview                      test the posted YAML (htmx swaps #preview); writes nothing
    GET  /dmos/{id}                         YAML, version history (?version= shows an old one), edit form
    GET  /dmos/{id}/config.yaml             download (?version=)
    POST /dmos/{id}/config                  save the edited YAML (a new version)
    POST /dmos/{id}/activate|deactivate
    GET  /dmos/{id}/preview                 the stored config in the test form
    POST /dmos/{id}/preview                 test the posted YAML
Every page takes ?domain= (default listings) for a DMO's other data domains.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from listings_admin import app as core
from listings_admin.auth import ActingUser

DOMAINS = ("listings", "reviews", "events")
MAX_UPLOAD_BYTES = 50_000_000


def _domain(domain: str | None) -> str:
    value = domain or "listings"
    if value not in DOMAINS:
        raise core.BadRequest(f"domain must be one of {', '.join(DOMAINS)}; got {value!r}")
    return value


def _config_path(dmo_id: int, domain: str, suffix: str = "") -> str:
    return f"/dmos/{dmo_id}{suffix}" + ("" if domain == "listings" else f"?domain={domain}")


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
) -> HTMLResponse:
    from listings.admin import dmos
    from listings.config.store import to_yaml

    try:
        with core._engine().connect() as conn:
            page = dmos.config_page(conn, dmo_id, domain, version=version)
    except LookupError as exc:
        return core._error(request, user, str(exc).strip("'\""), 404)
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


def new_page(request: Request, user: GetUserDep) -> HTMLResponse:
    from listings.admin import dmos

    with core._engine().connect() as conn:
        template = dmos.template_yaml(dmos.next_dmo_id(conn))
    return _new_response(request, user, template)


def _new_response(
    request: Request, user: Any, edited: str, problems: list[str] | None = None, status_code: int = 200
) -> HTMLResponse:
    context = {
        "title": "New DMO",
        "nav": "dmos",
        "edit_yaml": edited,
        "problems": problems or [],
        "save_path": "/dmos/new",
        "preview_path": "/dmos/preview",
    }
    return core.render(request, user, "dmo_new.html", context, status_code=status_code)


# ------------------------------------------------------------------------------------------------
# Changing
# ------------------------------------------------------------------------------------------------


def _saved(request: Request, result: Any) -> Response:
    what = {"created": "created", "updated": "saved as", "unchanged": "unchanged:"}[result.action]
    message = f"DMO {result.dmo_id} ({result.data_domain}) {what} version {result.version}."
    path = core._url(request, _config_path(result.dmo_id, result.data_domain))
    return core._redirect(request, path, "success", message)


def create_dmo(
    request: Request, user: GetUserDep, acting: ActingUser, yaml: Annotated[str, Form()] = ""
) -> Response:
    from listings.admin import dmos
    from listings.config.store import ConfigError

    try:
        result = dmos.save_yaml(core._engine(), yaml, user=acting, new=True)
    except ConfigError as exc:
        return _new_response(request, user, yaml, exc.problems, status_code=400)
    return _saved(request, result)


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
    try:
        result = dmos.save_yaml(core._engine(), data, user=acting, source=source)
    except ConfigError as exc:
        shown = data.decode("utf-8", errors="replace")[: dmos.MAX_YAML_BYTES]
        return _new_response(request, user, shown, exc.problems, status_code=400)
    return _saved(request, result)


def save_config(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    dmo_id: int,
    domain: str | None = None,
    yaml: Annotated[str, Form()] = "",
) -> Response:
    from listings.admin import dmos
    from listings.config.store import ConfigError

    data_domain = _domain(domain)
    try:
        result = dmos.save_yaml(core._engine(), yaml, user=acting, dmo_id=dmo_id, data_domain=data_domain)
    except ConfigError as exc:
        return _dmo_response(
            request, user, dmo_id, data_domain, edited=yaml, problems=exc.problems, status_code=400
        )
    return _saved(request, result)


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
# Test this config
# ------------------------------------------------------------------------------------------------


def preview_page(request: Request, user: GetUserDep, dmo_id: int, domain: str | None = None) -> HTMLResponse:
    from listings.config.store import get_config, to_yaml

    data_domain = _domain(domain)
    try:
        with core._engine().connect() as conn:
            stored = get_config(conn, dmo_id, data_domain)
    except LookupError as exc:
        return core._error(request, user, str(exc).strip("'\""), 404)
    return _preview_response(request, user, to_yaml(stored.config), None, dmo_id, data_domain)


def _preview_response(
    request: Request,
    user: Any,
    edited: str,
    outcome: dict[str, Any] | None,
    dmo_id: int | None,
    domain: str,
) -> HTMLResponse:
    context = {
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


def _run_preview(yaml: str, file: UploadFile | None) -> dict[str, Any]:
    """The preview of the posted YAML (and upload), or its problems: {"preview": ...} / {"problems": [...]}."""
    from listings.admin import dmos
    from listings.config.store import ConfigError
    from listings.sources.base import SourceError

    with tempfile.TemporaryDirectory(prefix="listings-preview-") as tmp:
        path: Path | None = None
        if file is not None and file.filename:
            path = Path(tmp) / ("upload" + Path(file.filename).suffix.lower()[:8])
            data = file.file.read(MAX_UPLOAD_BYTES + 1)
            if len(data) > MAX_UPLOAD_BYTES:
                return {"problems": [f"(file): larger than {MAX_UPLOAD_BYTES:,} bytes"]}
            path.write_bytes(data)
        try:
            result = dmos.preview_yaml(yaml, file=path)
        except ConfigError as exc:
            return {"problems": exc.problems}
        except SourceError as exc:
            return {"problems": [f"(source): {exc}"]}
        except Exception as exc:  # a fetch failing in any other way is still an answer to "test this"
            return {"problems": [f"(source): {type(exc).__name__}: {exc}"]}
    return {"preview": result}


def preview_posted(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    yaml: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    return _preview_response(request, user, yaml, _run_preview(yaml, file), None, "listings")


def preview_config(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    dmo_id: int,
    domain: str | None = None,
    yaml: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    data_domain = _domain(domain)
    return _preview_response(request, user, yaml, _run_preview(yaml, file), dmo_id, data_domain)


def register(app: FastAPI) -> None:
    app.add_api_route("/dmos", dmos_page, methods=["GET"])
    app.add_api_route("/dmos/new", new_page, methods=["GET"])
    app.add_api_route("/dmos/new", create_dmo, methods=["POST"])
    app.add_api_route("/dmos/import", import_dmo, methods=["POST"])
    app.add_api_route("/dmos/preview", preview_posted, methods=["POST"])
    app.add_api_route("/dmos/{dmo_id:int}", dmo_page, methods=["GET"])
    app.add_api_route("/dmos/{dmo_id:int}/config.yaml", export_config, methods=["GET"])
    app.add_api_route("/dmos/{dmo_id:int}/config", save_config, methods=["POST"])
    app.add_api_route("/dmos/{dmo_id:int}/preview", preview_page, methods=["GET"])
    app.add_api_route("/dmos/{dmo_id:int}/preview", preview_config, methods=["POST"])
    app.add_api_route("/dmos/{dmo_id:int}/{action}", set_active, methods=["POST"])
