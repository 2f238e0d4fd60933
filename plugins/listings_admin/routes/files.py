"""The files pages of the admin UI.

Routes (under the mount prefix):
    GET  /files                         raw and transformed files, newest first: stage tabs, filters (DMO,
                                        region, days, job), paging (htmx swaps #results)
    GET  /files/{id}                    one file: metadata, its job and sibling file, a preview of its records
                                        (?offset=&limit=; htmx swaps #file-preview)
    GET  /files/{id}/download           the stored object as it is (gzip); ?decompress=1 gunzips it

The queries and the bounded object reading are `listings.admin.files`; every route is a read.
"""

from __future__ import annotations

from collections.abc import Iterator

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from listings_admin.deps import DEFAULT_PER_PAGE, Conn, Offset, OptionalInt, Page, PerPage, store
from listings_admin.rendering import NotFound, is_partial, render

router = APIRouter()

PREVIEW_LIMIT = 50  # records per preview page when ?limit= is not given


@router.get("/files")
def files_page(
    request: Request,
    user: GetUserDep,
    conn: Conn,
    stage: str | None = None,
    dmo_id: OptionalInt = None,
    region: str | None = None,
    start: str | None = None,
    end: str | None = None,
    job_id: OptionalInt = None,
    page: Page = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> HTMLResponse:
    from listings.admin import files, queries

    result = files.list_files(
        conn,
        stage=stage or None,
        dmo_id=dmo_id,
        day_from=start or None,
        day_to=end or None,
        region=region or None,
        job_id=job_id,
        page=page,
        per_page=per_page,
    )
    partial = is_partial(request, "results")
    choices = {} if partial else {"dmos": queries.dmo_choices(conn), "regions": files.region_choices(conn)}
    f = result.filters
    params = {
        "stage": f["stage"],
        "dmo_id": f["dmo_id"],
        "region": f["region"],
        "start": f["from"].isoformat() if f["from"] else None,
        "end": f["to"].isoformat() if f["to"] else None,
        "job_id": f["job_id"],
        "per_page": per_page if per_page != DEFAULT_PER_PAGE else None,
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
    if partial:
        return render(request, user, "_files_results.html", context)
    return render(request, user, "files.html", context)


@router.get("/files/{file_id:int}")
def file_page(
    request: Request,
    user: GetUserDep,
    conn: Conn,
    file_id: int,
    offset: Offset = 0,
    limit: OptionalInt = None,
) -> HTMLResponse:
    from listings.admin import files

    detail = files.file_detail(conn, file_id)
    if detail is None:
        raise NotFound(f"There is no file {file_id}.")
    shown = PREVIEW_LIMIT if limit is None else limit
    preview = files.preview_records(store(), detail.file, offset=offset, limit=shown, conn=conn)
    f = detail.file
    context = {
        "title": f"File {file_id}",
        "nav": "files",
        "d": detail,
        "f": f,
        "preview": preview,
        "object_name": files.download_name(f) if f.get("s3_path") else "",
        "params": {} if limit is None else {"limit": limit},
    }
    if is_partial(request, "file-preview"):
        return render(request, user, "_file_preview.html", context)
    return render(request, user, "file.html", context)


@router.get("/files/{file_id:int}/download")
def file_download(conn: Conn, file_id: int, decompress: str | None = None) -> Response:
    from listings.admin import files
    from listings.storage import CONTENT_TYPES, ObjectNotFoundError

    detail = files.file_detail(conn, file_id)
    if detail is None:
        raise NotFound(f"There is no file {file_id}.")
    unzip = (decompress or "").lower() in ("1", "true", "yes")
    row = detail.file
    try:
        chunks = files.iter_object(store(), row, decompress=unzip)
        first = next(chunks, b"")  # opens the object now: a missing one is a 404, not a broken download
    except (ObjectNotFoundError, ValueError, files.PreviewError) as exc:
        raise NotFound(f"The stored object of file {file_id} cannot be read: {exc}") from None

    def body() -> Iterator[bytes]:
        yield first
        yield from chunks

    fmt = row.get("format") or "json"
    # No charset: a raw payload is stored as it came, in whatever encoding the source used.
    media_type = CONTENT_TYPES.get(fmt, "application/octet-stream") if unzip else "application/gzip"
    name = files.download_name(row, decompressed=unzip)
    headers = {
        "Content-Type": media_type,
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(body(), headers=headers)
