""" "Test this config" in the admin UI: the first records of a posted config (YAML or the form editor's),
mapped field by field, from an uploaded CSV/XLS or the source itself; nothing is written. The preview is
`listings.admin.dmos.preview_yaml`.

Routes (under the mount prefix):
    GET  /dmos/{id}/preview                 the stored config in the test form
    POST /dmos/{id}/preview[?mode=form]     test the posted YAML / form (htmx swaps #preview)
    POST /dmos/preview[?mode=form]          the same for a new DMO's editor
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from listings_admin.auth import ActingUser, is_admin
from listings_admin.deps import Conn, engine
from listings_admin.rendering import render
from listings_admin.routes.dmos import (
    DataDomain,
    EditorMode,
    PostedForm,
    config_path,
    form_file,
    form_text,
    stored_config,
)

router = APIRouter()

MAX_UPLOAD_BYTES = 50_000_000


@router.get("/dmos/{dmo_id:int}/preview")
def preview_page(
    request: Request, user: GetUserDep, conn: Conn, dmo_id: int, domain: DataDomain
) -> HTMLResponse:
    from listings.config.store import to_yaml

    stored = stored_config(conn, dmo_id, domain)
    return _preview_response(request, user, to_yaml(stored.config), None, dmo_id, domain)


@router.post("/dmos/preview")
def preview_posted(
    request: Request, user: GetUserDep, acting: ActingUser, form: PostedForm, mode: EditorMode
) -> HTMLResponse:
    yaml, problems = _posted_yaml(form, mode)
    outcome = {"problems": problems} if problems else _run_preview(yaml, form_file(form, "file"), user)
    return _preview_response(request, user, yaml, outcome, None, "listings")


@router.post("/dmos/{dmo_id:int}/preview")
def preview_config(
    request: Request,
    user: GetUserDep,
    acting: ActingUser,
    form: PostedForm,
    dmo_id: int,
    domain: DataDomain,
    mode: EditorMode,
) -> HTMLResponse:
    yaml, problems = _posted_yaml(form, mode)
    outcome = {"problems": problems} if problems else _run_preview(yaml, form_file(form, "file"), user)
    return _preview_response(request, user, yaml, outcome, dmo_id, domain)


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
        "save_path": config_path(dmo_id, domain, "/config") if dmo_id else "/dmos/new",
        "preview_path": config_path(dmo_id, domain, "/preview") if dmo_id else "/dmos/preview",
        "outcome": outcome,
    }
    if request.headers.get("HX-Request") == "true":  # the Test button: only the result
        return render(request, user, "_dmo_preview.html", context)
    return render(request, user, "dmo_preview.html", context)


def _posted_yaml(form: Any, mode: str) -> tuple[str, list[str]]:
    """The YAML of a posted YAML editor, or of a posted form editor (its problems when it is invalid)."""
    if mode == "yaml":
        return form_text(form, "yaml"), []
    from listings.admin import dmo_form
    from listings.config.store import to_yaml

    try:
        return to_yaml(dmo_form.config_from_form(form)), []
    except dmo_form.FormError as exc:
        return "", exc.problems


def _run_preview(yaml: str, file: Any, user: Any) -> dict[str, Any]:
    """The preview of the posted YAML (and upload), or its problems: {"preview": ...} / {"problems": [...]}.
    `preview_yaml` reads through the engine as it needs (a source's fetch may take a while)."""
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
            result = dmos.preview_yaml(engine(), yaml, file=path, admin=is_admin(user))
        except ConfigError as exc:
            return {"problems": exc.problems}
        except SourceError as exc:
            return {"problems": [f"(source): {exc}"]}
        except Exception as exc:  # a fetch failing in any other way is still an answer to "test this"
            return {"problems": [f"(source): {type(exc).__name__}: {exc}"]}
    return {"preview": result}
