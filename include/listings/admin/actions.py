"""The admin UI's buttons as service functions: each runs in its own transaction, first checks that the
action makes sense for the row as it is now (locked with FOR UPDATE), then calls the catalogue or image
function that does the work and records it. An `EditError` leaves the database as it was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from listings.catalogue import edits
from listings.catalogue.edits import EditError
from listings.db.engine import get_engine

LISTING_ACTIONS = ("archive", "restore")
INFO_ACTIONS = ("hide", "show")


@dataclass(frozen=True)
class ActionResult:
    listing_id: int
    message: str


def listing_action(
    listing_id: int, action: str, *, user: str, reason: str = "", engine: Engine | None = None
) -> ActionResult:
    """`archive` (hidden for every DMO) or `restore` a listing, as `user`."""
    if action not in LISTING_ACTIONS:
        raise EditError(f"unknown listing action {action!r}; one of {', '.join(LISTING_ACTIONS)}")
    with (engine or get_engine()).begin() as conn:  # the service refuses a merged or wrong-state listing
        if action == "archive":
            edits.archive_listing(conn, listing_id, user=user, reason=reason.strip())
            return ActionResult(listing_id, f"Listing {listing_id} archived: hidden for every DMO.")
        edits.restore_listing(conn, listing_id, user=user)
        return ActionResult(listing_id, f"Listing {listing_id} restored.")


def listing_info_action(
    listing_info_id: int, action: str, *, user: str, reason: str = "", engine: Engine | None = None
) -> ActionResult:
    """`hide` one DMO's listing_info (imports do not bring it back) or `show` it again, as `user`."""
    if action not in INFO_ACTIONS:
        raise EditError(f"unknown listing_info action {action!r}; one of {', '.join(INFO_ACTIONS)}")
    with (engine or get_engine()).begin() as conn:
        row = conn.execute(
            text(
                "select li.listing_id, li.info_visible, li.info_status, d.name as dmo_name"
                " from public.listing_info li join public.dmos d on d.id = li.dmo_id"
                " where li.id = :i for update of li"
            ),
            {"i": listing_info_id},
        ).one_or_none()
        if row is None:
            raise EditError(f"no listing_info {listing_info_id}")
        where = f"listing_info {listing_info_id} ({row.dmo_name})"
        if action == "hide":
            if not row.info_visible and row.info_status == "removed":
                raise EditError(f"{where} is already hidden")
            edits.hide_listing_info(conn, listing_info_id, user=user, reason=reason.strip())
            return ActionResult(row.listing_id, f"{where.capitalize()} hidden.")
        if row.info_visible and row.info_status == "active":
            raise EditError(f"{where} is already shown")
        edits.show_listing_info(conn, listing_info_id, user=user)
        return ActionResult(row.listing_id, f"{where.capitalize()} shown.")


def refetch_image(image_id: int, *, user: str) -> dict[str, Any]:
    """Fetch one image again (no conditional GET) and update the public rows showing it; returns its new
    status and reason. LookupError if there is no such image (or its DMO has no config)."""
    from listings.pipeline.images import refetch

    (result,) = refetch(image_id=image_id, user=user)
    return result
