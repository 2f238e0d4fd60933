"""The files pages of the admin UI, registered on the app by `register(app)`.

Routes (under the mount prefix):
    GET  /files                         raw and transformed files, newest first: stage tabs, filters (DMO,
                                        region, days, job), paging (htmx swaps #results)
    GET  /files/{id}                    one file: metadata, its job and sibling file, a preview of its records
                                        (?offset=&limit=; htmx swaps #file-preview)
    GET  /files/{id}/download           the stored object as it is (gzip); ?decompress=1 gunzips it

The queries and the bounded object reading are `listings.admin.files`; every route is a read.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from listings_admin.app import _engine, _error, _int, _partial, _store, render, templates

templates.env.filters["file_json"] = lambda value: json.dumps(
    value, ensure_ascii=False, indent=2, default=str
)


def files_page(
    request: Request,
    user: GetUserDep,
    stage: str | None = None,
    dmo_id: str | None = None,
    region: str | None = None,
    start: str | None = None,
    end: str | None = None,
    job_id: str | None = None,
    page: str | None = None,
    per_page: str | None = None,
) -> HTMLResponse:
    from listings.admin import files, queries

    with _engine().connect() as conn:
        result = files.list_files(
            conn,
            stage=stage or None,
            dmo_id=_int("dmo_id", dmo_id),
            day_from=start or None,
            day_to=end or None,
            region=region or None,
            job_id=_int("job_id", job_id),
            page=_int("page", page, default=1) or 1,
            per_page=_int("per_page", per_page, default=50) or 50,
        )
        choices = (
            {}
            if _partial(request, "results")
            else {"dmos": queries.dmo_choices(conn), "regions": files.region_choices(conn)}
        )
    f = result.filters
    params = {
        "stage": f["stage"],
        "dmo_id": f["dmo_id"],
        "region": f["region"],
        "start": f["from"].isoformat() if f["from"] else None,
        "end": f["to"].isoformat() if f["to"] else None,
        "job_id": f["job_id"],
        "per_page": _int("per_page", per_page),
    }
    context = {
        "title": "Files",
        "nav": "files",
        "result": result,
        "params": {k: v for k, v in params.items() if v not in (None, "")},
        "stages": files.STAGES,
        "max_rows": queries.MAX_ROWS,
        **choices,
    }
    if _partial(request, "results"):
        return render(request, user, "_files_results.html", context)
    return render(request, user, "files.html", context)


def file_page(
    request: Request,
    user: GetUserDep,
    file_id: int,
    offset: str | None = None,
    limit: str | None = None,
) -> HTMLResponse:
    from listings.admin import files

    with _engine().connect() as conn:
        detail = files.file_detail(conn, file_id)
        if detail is None:
            return _error(request, user, f"There is no file {file_id}.", 404)
        preview = files.preview_records(
            _store(),
            detail.file,
            offset=_int("offset", offset, default=0) or 0,
            limit=_int("limit", limit, default=50),
            conn=conn,
        )
    f = detail.file
    context = {
        "title": f"File {file_id}",
        "nav": "files",
        "d": detail,
        "f": f,
        "preview": preview,
        "object_name": files.download_name(f) if f.get("s3_path") else "",
        "params": {"limit": _int("limit", limit)} if limit else {},
    }
    if _partial(request, "file-preview"):
        return render(request, user, "_file_preview.html", context)
    return render(request, user, "file.html", context)


def file_download(
    request: Request, user: GetUserDep, file_id: int, decompress: str | None = None
) -> Response:
    from listings.admin import files
    from listings.storage import ObjectNotFoundError

    with _engine().connect() as conn:
        detail = files.file_detail(conn, file_id)
    if detail is None:
        return _error(request, user, f"There is no file {file_id}.", 404)
    unzip = (decompress or "").lower() in ("1", "true", "yes")
    row = detail.file
    try:
        chunks = files.iter_object(_store(), row, decompress=unzip)
        first = next(chunks, b"")  # opens the object now: a missing one is a 404, not a broken download
    except (ObjectNotFoundError, ValueError, files.PreviewError) as exc:
        return _error(request, user, f"The stored object of file {file_id} cannot be read: {exc}", 404)

    def body() -> Any:
        yield first
        yield from chunks

    fmt = row.get("format") or "json"
    from listings.storage import CONTENT_TYPES

    # No charset: a raw payload is stored as it came, in whatever encoding the source used.
    media_type = CONTENT_TYPES.get(fmt, "application/octet-stream") if unzip else "application/gzip"
    name = files.download_name(row, decompressed=unzip)
    headers = {
        "Content-Type": media_type,
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(body(), headers=headers)


def register(app: FastAPI) -> None:
    """Add this module's routes to the admin app (its app-wide read and write guards apply)."""
    app.add_api_route("/files", files_page, methods=["GET"])
    app.add_api_route("/files/{file_id:int}", file_page, methods=["GET"])
    app.add_api_route("/files/{file_id:int}/download", file_download, methods=["GET"])
