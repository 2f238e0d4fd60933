"""FastAPI dependencies and parameter types of the admin UI's routes.

- `engine()`, `store()`: the database engine and the object store of the current settings.
- `Conn`: one connection for the request's route (`engine().connect()`, closed when the route returns,
  before the response is sent). What the route does not commit is rolled back, as with
  `with engine().connect() as conn:`; a route that commits a transaction of its own keeps
  `with engine().begin() as conn:`.
- `remember_user`: Airflow's user of the request kept on `request.state`, for the 404 page.
- Query parameter types: `Page`, `PerPage`, `Offset`, `OptionalInt`, `OptionalFloat`. FastAPI parses and
  checks them; a bad value is one 400 page naming the parameter (`main.py`, `validation_message`). An
  empty value (`?dmo_id=`, as a GET form sends an empty field) is no value: the default.
- `optional_int`, `optional_float`, `page_number`: the same for a query string FastAPI did not parse (the
  `next` URL a rejected form came from); they raise `BadRequest` with the same messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, Query, Request
from pydantic import BeforeValidator
from sqlalchemy import Connection

from listings_admin.rendering import BadRequest

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from listings.storage import ObjectStore

DEFAULT_PER_PAGE = 50


# ------------------------------------------------------------------------------------------------
# The database, the object store, the user
# ------------------------------------------------------------------------------------------------


def engine() -> Engine:
    """The engine of the current settings (one per database URL)."""
    from listings.db.engine import get_engine

    return get_engine()


@lru_cache(maxsize=4)
def _store_for(storage_url: str | None, conn_id: str | None) -> ObjectStore:
    from listings.storage import get_store

    return get_store()


def store() -> ObjectStore:
    """The object store of the current settings (cached: an S3 store holds a client)."""
    from listings.settings import get_settings

    settings = get_settings()
    return _store_for(settings.storage_url, settings.storage_conn_id)


def connection() -> Iterator[Connection]:
    """Dependency: one connection for the route, closed (what was not committed rolled back) when it
    returns."""
    with engine().connect() as conn:
        yield conn


# scope="function": the connection goes back to the pool when the route returns, not after the response
# is sent (a streamed download or a slow client does not hold it).
Conn = Annotated[Connection, Depends(connection, scope="function")]


async def remember_user(request: Request, user: GetUserDep) -> None:
    """Router dependency (`main.create_app`): Airflow's user of the request (`GetUserDep`, read once per
    request) kept on `request.state`, for the 404 page an exception handler renders (`NotFound`)."""
    request.state.user = user


# ------------------------------------------------------------------------------------------------
# Query parameters
# ------------------------------------------------------------------------------------------------


def _blank_as(default: Any) -> Callable[[Any], Any]:
    """A validator that reads an empty (or blank) value as `default`: forms send empty fields as `name=`."""

    def blank_as_default(value: Any) -> Any:
        return default if isinstance(value, str) and not value.strip() else value

    return blank_as_default


Page = Annotated[int, BeforeValidator(_blank_as(1)), Query(ge=1)]
PerPage = Annotated[int, BeforeValidator(_blank_as(DEFAULT_PER_PAGE)), Query(ge=1)]
Offset = Annotated[int, BeforeValidator(_blank_as(0)), Query(ge=0)]
OptionalInt = Annotated[int | None, BeforeValidator(_blank_as(None)), Query()]
OptionalFloat = Annotated[float | None, BeforeValidator(_blank_as(None)), Query()]

_WHOLE = ("int_parsing", "int_type", "int_from_float")
_NUMBER = ("float_parsing", "float_type", "finite_number")
_BOUNDS = {
    "greater_than_equal": ("ge", "{name} must be {limit} or more"),
    "greater_than": ("gt", "{name} must be more than {limit}"),
    "less_than_equal": ("le", "{name} must be at most {limit}"),
    "less_than": ("lt", "{name} must be less than {limit}"),
}
_WHERE = ("query", "path", "body", "header", "cookie")


def _problem(error: Mapping[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ()) if part not in _WHERE]
    name = ".".join(loc) or "the request"
    kind = str(error.get("type", ""))
    value = error.get("input")
    got = f"; got {value!r}" if isinstance(value, str | int | float) else ""
    if kind in _WHOLE:
        return f"{name} must be a whole number{got}"
    if kind in _NUMBER:
        return f"{name} must be a number{got}"
    if kind in _BOUNDS:
        key, message = _BOUNDS[kind]
        return message.format(name=name, limit=(error.get("ctx") or {}).get(key)) + got
    if kind == "missing":
        return f"{name} is required"
    return f"{name}: {error.get('msg', 'not valid')}{got}"


def validation_message(errors: Sequence[Any]) -> str:
    """FastAPI's validation errors as one sentence a user can read, each naming its parameter:
    "page must be 1 or more; got '0'", "dmo_id must be a whole number; got 'x'"."""
    problems = list(dict.fromkeys(_problem(e) for e in errors if isinstance(e, Mapping)))
    return ". ".join(problems) or "The request is not valid."


def optional_int(name: str, value: str | None) -> int | None:
    """A whole number of a query string FastAPI did not parse; None when empty."""
    if value is None or not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number; got {value!r}") from None


def optional_float(name: str, value: str | None) -> float | None:
    """A number of a query string FastAPI did not parse; None when empty."""
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise BadRequest(f"{name} must be a number; got {value!r}") from None


def page_number(value: str | None) -> int:
    """The `page` of a query string FastAPI did not parse: 1 when empty, else 1 or more."""
    page = optional_int("page", value)
    if page is None:
        return 1
    if page < 1:
        raise BadRequest(f"page must be 1 or more; got {value!r}")
    return page
