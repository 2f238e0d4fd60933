"""A new DMO's first promotion stays linear in its batch.

The promotion's statements run in one transaction, after the transaction's own inserts: the planner's
statistics (none at all for the temp tables; for the public tables, the ones from before this DMO's rows
came) do not know those rows. Planned on them, the absence insert scanned the batch once per listing_info
of the DMO (a per-row Seq Scan of `_seen` under a Nested Loop Anti Join) and `_same_dmo` read the DMO's
whole index range once per new listing_info: minutes at 20k records, hours at 200k.

Here what `dbt build --select promotion` runs (`promotion_statements`: each promotion model's compiled
SQL written to its table, then the apply) is executed statement by statement in one transaction, for a new
DMO's first import of a few thousand records into a catalogue analysed before they came. Each statement is EXPLAINed before it runs, then run under EXPLAIN (ANALYZE)
(row counts, no timings), and the rows its scans read per table and index are taken from the
transaction's own statistics (`pg_stat_get_xact_*`, which also see inside functions and DO blocks). The
checks are on plan shapes and row counts, never on times.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlparse
from sqlalchemy import Engine, text

from listings.config.store import apply_config, parse_config
from listings.pipeline import steps
from listings.pipeline.promote import build_views, parse_project, run_dbt
from listings_dev.devdata import generate_listings, write_csv

N = 2000  # records of the first import: quadratic work is then ~N²/2 = 3M rows, linear work a few N
DMO = 501
# A statement may read each table / index a few times over the batch (the staged opening hours are several
# rows per record); per-row scans of the batch read hundreds of times more.
ROWS_PER_RELATION = 30 * N

FIELD_MAPPINGS = {
    "source_id": "ID", "name": "Name", "category": "Category", "address1": "Address1", "address2": "Address2",
    "city": "City", "state": "Province", "zip": "Postal", "country": "Country", "phone": "Phone",
    "email": "Email", "website": "Website", "facebook": "Facebook", "instagram": "Instagram",
    "lat": "Latitude", "lng": "Longitude", "description": "Description", "opening_hours": "Hours",
    "images": "Images",
}  # fmt: skip

PAGES_SQL = """
select n.nspname, c.relname, pg_relation_size(c.oid) / 8192
from pg_class as c
join pg_namespace as n on n.oid = c.relnamespace
where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema')
"""
ROWS_READ_SQL = """
select c.oid::regclass::text,
       pg_stat_get_xact_tuples_returned(c.oid) + pg_stat_get_xact_tuples_fetched(c.oid)
from pg_class as c
join pg_namespace as n on n.oid = c.relnamespace
where c.relkind in ('r', 'i') and n.nspname not in ('pg_catalog', 'information_schema')
    and n.nspname !~ '^pg_toast'
"""


@dataclass
class Ran:
    """One statement of the promotion, as it ran."""

    sql: str
    plan: dict[str, Any] | None = None  # EXPLAIN (FORMAT JSON) just before it ran: the planner's choice
    analyzed: dict[str, Any] | None = None  # EXPLAIN (ANALYZE): that plan, with its actual rows and loops
    rows_read: dict[str, int] = field(default_factory=dict)  # per table / index: rows its scans read
    pages: dict[tuple[str, str], int] = field(default_factory=dict)  # (schema, table): its size once it ran

    @property
    def head(self) -> str:
        return " ".join(self.sql.split())[:90]


def _nodes(plan: dict[str, Any], rescanned: bool = False) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every node of a plan, with whether it runs once per row of something else: the inner side of a
    Nested Loop, or a SubPlan that is not hashed (everything under them, Materialize included)."""
    yield plan, rescanned
    for child in plan.get("Plans", []):
        relation = child.get("Parent Relationship")
        per_row = (relation == "Inner" and plan["Node Type"] == "Nested Loop") or (
            relation == "SubPlan" and not str(child.get("Subplan Name", "")).startswith("hashed")
        )
        yield from _nodes(child, rescanned or per_row)


def per_row_scans(plan: dict[str, Any]) -> list[str]:
    """Scans that read a whole relation once per row of another: the quadratic shapes."""
    return [
        f"{node['Node Type']} on {node.get('Relation Name')}"
        for node, rescanned in _nodes(plan)
        if rescanned and node["Node Type"] in ("Seq Scan", "Sample Scan", "Tid Range Scan")
    ]


def repeated_scans(step: Ran) -> list[str]:
    """Per-row scans that ran once per row: a Seq Scan of more than a few pages repeated more than a few
    times. (Its rows do not tell: a scan of the table the statement inserts into also reads the rows
    inserted so far, which it does not return.)"""
    return [
        f"{node['Node Type']} on {node.get('Relation Name')}: {node.get('Actual Loops')} loops"
        for node, rescanned in _nodes(step.analyzed or {})
        if rescanned
        and node["Node Type"] == "Seq Scan"
        and node.get("Actual Loops", 0) > 20
        and step.pages.get((node.get("Schema", ""), node.get("Relation Name", "")), 0) > 4
    ]


def busy_nodes(analyzed: dict[str, Any]) -> list[str]:
    """Nodes that handled more rows than a linear plan would (rows out plus rows filtered, times loops)."""
    found = []
    for node, _ in _nodes(analyzed):
        loops = node.get("Actual Loops", 0)
        handled = loops * (
            node.get("Actual Rows", 0)
            + node.get("Rows Removed by Filter", 0)
            + node.get("Rows Removed by Index Recheck", 0)
            + node.get("Rows Removed by Join Filter", 0)
        )
        if handled > ROWS_PER_RELATION:
            name = node.get("Relation Name") or node.get("Index Name") or ""
            found.append(f"{node['Node Type']} {name}: {loops} loop(s), {handled} rows")
    return found


def _explainable(sql: str) -> bool:
    words = sql.lower().split(None, 3)
    creates_table = words[:3] == ["create", "temporary", "table"]
    return words[0] in ("select", "insert", "update", "delete") or creates_table


def promotion_statements(job_id: int) -> str:
    """The SQL `dbt build --select promotion` runs for the job, as one script: the job's records and changes
    (with the models' session settings and post-hooks: their indexes and statistics), each change log's rows
    (dbt's incremental insert of the model's compiled select), then the apply (its session, the summary row,
    its statements)."""
    args = ["--vars", json.dumps({"job_id": job_id})]
    result: Any = run_dbt(["compile", "--select", "promotion", *args], manifest=parse_project())
    models = {r.node.name: r.node for r in result.results if r.node.resource_type == "model"}
    tables = [models.pop("promotion__records"), models.pop("promotion__changes")]
    applied = models.pop("promotion__applied")
    logs = sorted(models.values(), key=lambda n: n.config.meta["apply"]["order"])
    inline = (
        "{{ promotion_session(" + str(job_id) + ") }}"
        "{{ promotion_apply_sql("
        + str(job_id)
        + ", (run_query('select dmo_id from pipeline.jobs where id = "
        + str(job_id)
        + "').columns[0].values()[0] if execute), graph.nodes['"
        + applied.unique_id
        + "'].depends_on.nodes, '"
        + applied.relation_name
        + "') }}"
    )
    apply: Any = run_dbt(["compile", "--inline", inline, *args], manifest=parse_project())
    settings = ";\n".join(hook.sql for hook in tables[0].config.pre_hook)
    return "\n".join(
        [
            f"{settings};",
            *(
                f"delete from {t.relation_name}; insert into {t.relation_name} {t.compiled_code};"
                + "".join(f" {h.sql.replace('{{ this }}', t.relation_name)};" for h in t.config.post_hook)
                for t in tables
            ),
            "set local enable_hashjoin = on;",
            "set local enable_mergejoin = on;",
            *(f"insert into {n.relation_name} {n.compiled_code};" for n in logs),
            f"insert into {applied.relation_name} {applied.compiled_code};",
            apply.results[0].node.compiled_code,
        ]
    )


def run_by_statement(db_url: str, job_id: int) -> list[Ran]:
    """The job's promotion, statement by statement in one transaction (rolled back at the end)."""
    build_views()
    statements = [
        sqlparse.format(s, strip_comments=True).strip().rstrip(";")
        for s in sqlparse.split(promotion_statements(job_id))
    ]
    ran = []
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for sql in statements:
            if sql.lower() in ("", "begin", "commit"):
                continue  # the connection's own transaction, rolled back below
            step = Ran(sql)
            before = dict(conn.execute(ROWS_READ_SQL).fetchall())
            if _explainable(sql):
                step.plan = conn.execute(f"explain (format json) {sql}").fetchone()[0][0]["Plan"]  # type: ignore[index]
                out = conn.execute(f"explain (analyze, timing off, verbose, format json) {sql}").fetchone()
                step.analyzed = out[0][0]["Plan"]  # type: ignore[index]
            else:
                conn.execute(sql)
            after = conn.execute(ROWS_READ_SQL).fetchall()
            step.rows_read = {rel: n - before.get(rel, 0) for rel, n in after if n > before.get(rel, 0)}
            step.pages = {(schema, name): n for schema, name, n in conn.execute(PAGES_SQL).fetchall()}
            ran.append(step)
        conn.rollback()
    return ran


@pytest.fixture
def first_import(engine: Engine, tmp_path: Path) -> int:
    """A new DMO's first file of N records, staged and matched (the job to promote), in a catalogue whose
    statistics were taken before these records came."""
    config = {
        "dmo": {"id": DMO, "name": "New DMO", "dmo_type": "CLIENT", "country": "CA", "state": "QC"},
        "source_type": "csv",
        "field_mappings": FIELD_MAPPINGS,
        "images": {"enabled": False},
    }
    with engine.begin() as conn:
        apply_config(conn, parse_config(config))
    upload = tmp_path / "first.csv"
    write_csv(upload, generate_listings(N, seed=13, id_prefix="NEW"))
    job_id = steps.start(DMO, params={"file": str(upload)})
    for step in ("extract", "transform", "stage", "match"):
        getattr(steps, step)(job_id)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("vacuum analyze"))
    return job_id


def test_a_new_dmos_first_promotion_plans_no_per_row_scans(db_url: str, first_import: int) -> None:
    ran = run_by_statement(db_url, first_import)
    for r in ran:  # shown when a check fails: what each statement read
        top = sorted(r.rows_read.items(), key=lambda kv: -kv[1])[:3]
        print(f"{max(r.rows_read.values(), default=0):>9}  {r.head[:60]:<60}  {top}")

    (absence,) = [r for r in ran if r.sql.startswith("insert into pipeline.listing_info_absence")]
    (same_dmo,) = [
        r for r in ran if r.sql.startswith("insert into") and "promotion__listing_info" in r.sql[:80]
    ]
    for step in (absence, same_dmo):
        assert step.plan is not None and step.analyzed is not None
        assert per_row_scans(step.plan) == [], (step.head, step.plan)
        assert per_row_scans(step.analyzed) == [], (step.head, step.analyzed)
        assert busy_nodes(step.analyzed) == [], (step.head, step.analyzed)

    # Every statement of the promotion (functions and DO blocks included): no relation read more than a
    # few times over, no plan node handling more rows than that.
    too_much = {
        r.head: {rel: n for rel, n in r.rows_read.items() if n > ROWS_PER_RELATION}
        for r in ran
        if any(n > ROWS_PER_RELATION for n in r.rows_read.values())
    }
    assert too_much == {}
    busy = {r.head: busy_nodes(r.analyzed) for r in ran if r.analyzed and busy_nodes(r.analyzed)}
    assert busy == {}
    repeated = {r.head: repeated_scans(r) for r in ran if repeated_scans(r)}
    assert repeated == {}
