"""Server-side requests: an HTTP source (REST connectors, ArcGIS, the Scrapy crawl) reaches no loopback,
private or link-local address unless its config says `allow_private_hosts`, which only an admin may set,
in a save or in "test this config"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import PREFIX
from dmo_helpers import q
from sqlalchemy import Engine

from listings.config.store import apply_config, parse_config, to_yaml
from listings.pipeline.runner import JobFailed, run_job
from listings.sources.base import FetchContext, SourceError
from listings.sources.http import HttpClient, HttpError, HttpParams
from listings.sources.registry import get_source
from listings_dev.demo_sites import DemoSites

FAST = {"delay_seconds": 0, "backoff_seconds": 0.01, "retries": 1, "timeout_seconds": 5}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sites() -> Iterator[DemoSites]:
    server = DemoSites(port=0)
    server.start()
    yield server
    server.stop()


def wordpress(base_url: str, **params: Any) -> dict[str, Any]:
    return {
        "dmo": {"id": 104, "name": "WP", "dmo_type": "CLIENT", "country": "CA", "state": "QC"},
        "source_type": "wordpress",
        "base_url": base_url,
        "config_params": {"post_type": "listing", **FAST, **params},
    }


def configs(sites: DemoSites) -> dict[str, dict[str, Any]]:
    """One config per HTTP source type, each pointing at the local demo site (127.0.0.1)."""
    dmo = {"id": 104, "name": "Demo", "dmo_type": "CLIENT", "country": "CA", "state": "QC"}
    base = sites.base_url
    return {
        "wordpress": wordpress(base),
        "drupal": {"dmo": dmo, "source_type": "drupal", "base_url": base,
                   "config_params": {"bundle": "place", **FAST}},
        "esri": {"dmo": dmo, "source_type": "esri", "base_url": base,
                 "field_mappings": {"name": "attributes.NAME"},
                 "config_params": {"layer_url": "arcgis/rest/services/Tourism/POI/FeatureServer/0", **FAST}},
        "website": {"dmo": dmo, "source_type": "website", "base_url": f"{base}/directory/",
                    "field_mappings": {"name": "name"},
                    "config_params": {"item_selector": "li.place",
                                      "link_selector": "a.place-link::attr(href)",
                                      "fields": {"name": "h1.name::text"}, **FAST}},
    }  # fmt: skip


def fetch(document: dict[str, Any]) -> Any:
    config = parse_config(document)
    ctx = FetchContext(config=config, params=config.params(), project_dir=REPO, limit=2)
    return get_source(config.source_type.value).fetch(ctx)


def test_every_http_source_refuses_a_loopback_site_unless_allowed(sites: DemoSites) -> None:
    for source_type, document in configs(sites).items():
        with pytest.raises(SourceError) as refused:
            fetch(document)
        assert "allow_private_hosts" in str(refused.value) or "non-public" in str(refused.value), source_type
        assert sites.requests == [], source_type  # not one request reached the server, robots.txt included
        document["config_params"]["allow_private_hosts"] = True
        assert fetch(document).data, source_type
        sites.requests.clear()


def test_metadata_addresses_are_refused_before_connecting() -> None:
    client = HttpClient(HttpParams(**FAST))
    for url in (
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[::ffff:127.0.0.1]:9/",
        "http://10.0.0.1/",
        "http://localhost:9/",
        "http://0.0.0.0:9/",
    ):
        with pytest.raises(HttpError, match=r"refused.*non-public"):
            client.get(url)
    assert client.requests == 0
    with pytest.raises(HttpError, match="refused"):
        client.get("file:///etc/passwd")


def test_a_connection_that_reaches_a_private_address_after_the_check_is_cut(
    sites: DemoSites, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding or a redirect: the check before the request said 'public', the connection did not."""
    import listings.sources.http as http

    monkeypatch.setattr(http, "refuse_private_url", lambda url: None)
    with pytest.raises(HttpError, match=r"connected to the non-public address 127\.0\.0\.1"):
        HttpClient(HttpParams(**FAST)).get(f"{sites.base_url}/robots.txt")
    assert sites.requests == []


def test_a_run_of_a_config_pointing_at_a_private_address_fails_without_reaching_it(
    engine: Engine, sites: DemoSites
) -> None:
    with engine.begin() as conn:
        apply_config(conn, parse_config(wordpress("http://169.254.169.254/")))
    with pytest.raises(JobFailed) as failed:
        run_job(104)
    assert failed.value.step == "extract" and "allow_private_hosts" in str(failed.value)
    assert q(engine, "select count(*) from pipeline.job_files")[0][0] == 0


def test_only_an_admin_may_let_a_config_reach_private_addresses(
    engine: Engine, sites: DemoSites, client_as: Callable[..., Any]
) -> None:
    def user() -> Any:  # client_as sets the app's acting user: ask for it before each request
        return client_as("user")

    def admin() -> Any:
        return client_as("admin")

    allowed = parse_config(wordpress(sites.base_url, allow_private_hosts=True))
    document = to_yaml(allowed)
    # a user may neither save nor test it: the test would send the server's request
    saved = user().post(PREFIX + "/dmos/new", data={"yaml": document})
    assert saved.status_code == 400 and "only an admin may" in saved.text
    tested = user().post(PREFIX + "/dmos/preview", data={"yaml": document})
    assert "only an admin may" in tested.text and sites.requests == []
    images = to_yaml(
        parse_config({**wordpress("https://example.org/"), "images": {"allow_private_hosts": True}})
    )
    assert "images.allow_private_hosts" in user().post(PREFIX + "/dmos/new", data={"yaml": images}).text
    assert q(engine, "select count(*) from pipeline.configs")[0][0] == 0
    # an admin may; the test fetches from the local site
    assert admin().post(PREFIX + "/dmos/preview", data={"yaml": document}).status_code == 200
    assert sites.requests
    assert (
        admin().post(PREFIX + "/dmos/new", data={"yaml": document}, follow_redirects=False).status_code == 303
    )
    # a user keeps what the admin allowed (another schedule), but may not point it elsewhere
    daily = to_yaml(allowed.model_copy(update={"schedule": "daily"}))
    kept = user().post(PREFIX + "/dmos/104/config", data={"yaml": daily}, follow_redirects=False)
    assert kept.status_code == 303
    moved = to_yaml(parse_config(wordpress("http://169.254.169.254/", allow_private_hosts=True)))
    refused = user().post(PREFIX + "/dmos/104/config", data={"yaml": moved})
    assert refused.status_code == 400 and "only an admin may" in refused.text
    assert q(engine, "select base_url, version from pipeline.configs") == [(f"{sites.base_url}/", 2)]
