"""The admin UI against cross-site request forgery and framing, through FastAPI's TestClient
as in test_admin_app.py (the app mounted at /listings-admin, the TestClient's own origin is
http://testserver).

Covered: a change that rides on the Airflow `_token` cookie is refused (403, nothing changed) unless the
browser says it comes from this origin (`Sec-Fetch-Site: same-origin`, else `Origin`, else `Referer`):
another site, another port of the same host (same-site), `Origin: null`, a foreign Referer, no evidence at
all; same-origin requests and configured origins (LISTINGS_ADMIN_ALLOWED_ORIGINS, Airflow's [api]
base_url) pass, and so does a script's `Authorization: Bearer` request (no cookie, nothing to forge). Every
response carries a Content-Security-Policy with frame-ancestors, nosniff and a same-origin referrer
policy, and no template holds inline script or style that such a policy would block."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import PLUGINS, PREFIX
from dmo_helpers import csv_config, q
from sqlalchemy import Engine

from listings.config.store import apply_config
from listings.pipeline.runner import run_job

HEADER = ["ID", "Name", "Category", "Address1", "City", "Postal", "Phone", "Lat", "Lng"]
ROW = ["a", "Café Olimpico", "Café", "124 rue Saint-Viateur O", "Montréal", "H2T 2L1", "514-555-0101",
       "45.5235", "-73.6004"]  # fmt: skip
SELF = "http://testserver"  # the TestClient's origin: scheme://Host as the app sees it


def _one_listing(engine: Engine, folder: Path) -> int:
    with engine.begin() as conn:
        apply_config(conn, csv_config(601, HEADER, images={"enabled": False}))
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, ROW])
    path = folder / "601.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    run_job(601, file=path)
    ((listing_id,),) = q(engine, "select listing_id from public.listing_info where dmo_id = 601")
    return int(listing_id)


@pytest.fixture
def listing(scenario: Callable[..., Any]) -> int:
    """DMO 601's one listing (built once, copied for each test)."""
    return int(scenario(_one_listing))


@pytest.fixture
def admin(client_as: Callable[..., Any]) -> Iterator[Any]:
    """An admin's browser: the Airflow UI's `_token` cookie on every request (the user itself is injected
    by admin_helpers; the cookie is what makes a request forgeable)."""
    client = client_as("admin", "alice")
    client.cookies.set("_token", "the-airflow-session")
    yield client


def _state(engine: Engine, listing_id: int) -> list[Any]:
    return [
        *q(engine, "select listing_status, listing_visible, updated_at from public.listings where id = :l",
           l=listing_id),
        *q(engine, "select count(*) from pipeline.listing_edits"),
    ]  # fmt: skip


FORGED = {
    "another site": {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    "another port of this host (same-site)": {"Origin": "http://testserver:8081", "Sec-Fetch-Site": "same-site"},
    "a foreign Origin, no Sec-Fetch-Site": {"Origin": "http://evil.example"},
    "another port, no Sec-Fetch-Site": {"Origin": "http://testserver:8081"},
    "another scheme, no Sec-Fetch-Site": {"Origin": "https://testserver"},
    "Origin null (sandboxed frame)": {"Origin": "null"},
    "a foreign Referer only": {"Referer": "http://evil.example/page.html"},
    "a Referer of another port only": {"Referer": "http://testserver:8081/listings-admin/listings"},
    "no origin evidence at all": {},
    "user-initiated (Sec-Fetch-Site none)": {"Sec-Fetch-Site": "none"},
}  # fmt: skip


@pytest.mark.parametrize("case", list(FORGED))
def test_a_forged_change_riding_on_the_cookie_is_refused_and_changes_nothing(
    case: str, engine: Engine, admin: Any, listing: int
) -> None:
    before = _state(engine, listing)
    answer = admin.post(
        f"{PREFIX}/listings/{listing}/archive", data={"reason": "forged"}, headers=FORGED[case]
    )
    assert answer.status_code == 403, (case, answer.text)
    assert "Refused: this request" in answer.text and "nothing was changed" in answer.text
    assert _state(engine, listing) == before


def test_same_origin_changes_pass(engine: Engine, admin: Any, listing: int) -> None:
    url = f"{PREFIX}/listings/{listing}"
    status = "select listing_status from public.listings where id = :l"
    # a browser that sends Fetch metadata (any https or localhost page) ...
    done = admin.post(url + "/archive", data={"reason": "closed"}, headers={"Sec-Fetch-Site": "same-origin"})
    assert done.status_code == 200 and q(engine, status, l=listing) == [("archived",)]
    # ... one that does not (plain http to a host name): its Origin, or its Referer
    done = admin.post(url + "/restore", headers={"Origin": SELF})
    assert done.status_code == 200 and q(engine, status, l=listing) == [("active",)]
    done = admin.post(url + "/archive", data={"reason": "x"}, headers={"Referer": f"{SELF}{url}"})
    assert done.status_code == 200 and q(engine, status, l=listing) == [("archived",)]
    # the default port is the same origin written without it
    done = admin.post(url + "/restore", headers={"Origin": "http://testserver:80"})
    assert done.status_code == 200 and q(engine, status, l=listing) == [("active",)]
    assert q(engine, "select count(*) from pipeline.listing_edits") == [(4,)]


def test_a_script_with_a_bearer_token_needs_no_origin(
    engine: Engine, client_as: Callable[..., Any], listing: int
) -> None:
    script = client_as("admin", "robot")  # no cookie: the token in the header is the only credential
    done = script.post(
        f"{PREFIX}/listings/{listing}/archive",
        data={"reason": "scripted"},
        headers={"Authorization": "Bearer a-token"},
    )
    assert done.status_code == 200
    assert q(engine, "select listing_status from public.listings where id = :l", l=listing) == [("archived",)]


def test_configured_origins_pass(
    engine: Engine, admin: Any, listing: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a proxy the app may not see the origin the browser used: the deployment lists it."""
    from listings.settings import get_settings

    url = f"{PREFIX}/listings/{listing}/archive"
    public = {"Origin": "https://airflow.example.com"}
    assert admin.post(url, data={"reason": "x"}, headers=public).status_code == 403
    monkeypatch.setenv(
        "LISTINGS_ADMIN_ALLOWED_ORIGINS", "https://other.example, https://Airflow.example.com/"
    )
    get_settings.cache_clear()
    assert admin.post(url, data={"reason": "x"}, headers=public).status_code == 200
    assert q(engine, "select listing_status from public.listings where id = :l", l=listing) == [("archived",)]
    # Airflow's own public URL ([api] base_url) is trusted as well
    monkeypatch.delenv("LISTINGS_ADMIN_ALLOWED_ORIGINS")
    get_settings.cache_clear()
    restore = f"{PREFIX}/listings/{listing}/restore"
    proxied = {"Origin": "https://airflow.internal:8443"}
    assert admin.post(restore, headers=proxied).status_code == 403
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.internal:8443/")
    assert admin.post(restore, headers=proxied).status_code == 200


def test_every_response_carries_the_security_headers(
    engine: Engine, admin: Any, client_as: Callable[..., Any], listing: int
) -> None:
    responses = {
        "page": admin.get(f"{PREFIX}/listings"),
        "listing": admin.get(f"{PREFIX}/listings/{listing}"),
        "htmx partial": admin.get(f"{PREFIX}/listings", headers={"HX-Request": "true", "HX-Target": "results"}),
        "static": admin.get(f"{PREFIX}/static/htmx.min.js"),
        "refused": admin.post(f"{PREFIX}/listings/{listing}/archive", headers={"Origin": "http://evil.example"}),
        "not found": admin.get(f"{PREFIX}/listings/999999"),
        "viewer refused": client_as("viewer").post(f"{PREFIX}/listings/{listing}/archive"),
    }  # fmt: skip
    for name, response in responses.items():
        csp = response.headers.get("content-security-policy", "")
        directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
        assert directives.get("frame-ancestors") == ["'self'"], (name, csp)
        assert directives.get("default-src") == ["'self'"], (name, csp)
        assert directives.get("script-src") == ["'self'"], (name, csp)  # no 'unsafe-inline', no eval
        assert directives.get("object-src") == ["'none'"] and directives.get("base-uri") == ["'self'"]
        assert directives.get("form-action") == ["'self'"], (name, csp)
        assert response.headers.get("x-content-type-options") == "nosniff", name
        assert response.headers.get("referrer-policy") == "same-origin", name


def test_no_template_holds_inline_script_or_style() -> None:
    """What the policy above would block: inline <script> bodies, on* handler attributes, style attributes
    and <style> elements, javascript: URLs. The pages' scripts live in static/admin.js."""
    templates = PLUGINS / "listings_admin" / "templates"
    found = []
    for path in sorted(templates.glob("*.html")):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"<script\b([^>]*)>", text):
            if "src=" not in m.group(1):
                found.append(f"{path.name}: inline <script>")
        for pattern, what in (
            (r"\son[a-z]+\s*=", "an on* handler"),
            (r"\sstyle\s*=", "a style attribute"),
            (r"<style\b", "a <style> element"),
            (r"javascript:", "a javascript: URL"),
            (r"hx-on", "an hx-on handler (eval)"),
        ):
            if re.search(pattern, text, re.I):
                found.append(f"{path.name}: {what}")
    assert found == []
    base = (templates / "base.html").read_text(encoding="utf-8")
    assert "/static/admin.js" in base and "/static/htmx.min.js" in base
