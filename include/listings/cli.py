"""`listings`: the command line of the pipeline (local database, configs, runs)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from listings.settings import get_settings


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """listings-pipeline: DMO sources → raw → transformed → staging → public."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# --- db ----------------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """The listings database: migrations; with the development tools, the project-local PostgreSQL."""


@db.command("url")
@click.argument("database", default="listings")
@click.option(
    "--driver", default="postgresql+psycopg", show_default=True, help="URL scheme, e.g. postgresql."
)
def db_url(database: str, driver: str) -> None:
    """Print the URL of a database (LISTINGS_DATABASE_URL when set)."""
    settings = get_settings()
    if settings.database_url:
        click.echo(settings.database_url)
    else:
        from listings.db.engine import local_cluster_url

        click.echo(local_cluster_url(settings.pg_dir, database, driver))


@db.command("migrate")
@click.option("--revision", default="head", show_default=True)
def db_migrate(revision: str) -> None:
    """Apply the Alembic migrations (public, staging, pipeline)."""
    from listings.db.engine import migrate

    migrate(revision=revision)
    click.echo(f"database migrated to {revision}")


@db.command("downgrade")
@click.option("--revision", default="base", show_default=True)
@click.confirmation_option(prompt="This drops tables and their data. Continue?")
def db_downgrade(revision: str) -> None:
    """Revert migrations (destructive)."""
    from listings.db.engine import downgrade

    downgrade(revision=revision)
    click.echo(f"database downgraded to {revision}")


# --- config ------------------------------------------------------------------------------------
@main.group()
def config() -> None:
    """DMO configs: validate YAML and upsert into pipeline.configs."""


@config.command("apply")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def config_apply(paths: tuple[Path, ...]) -> None:
    """Validate and apply config files or folders; an invalid file is reported and not saved."""
    from listings.config.store import apply_paths
    from listings.db.engine import get_engine

    results, errors = apply_paths(get_engine(), list(paths))
    for r in results:
        click.echo(f"{r.action:9} dmo {r.dmo_id} {r.data_domain} v{r.version}  ({r.source})")
    for e in errors:
        click.echo(f"invalid   {e}", err=True)
    settings = get_settings()
    if settings.airflow_api_url and any(r.action != "unchanged" for r in results):
        from listings.orchestration.pools import active_pools_document, sync_pools_rest

        try:
            pools = sync_pools_rest(
                active_pools_document(),
                settings.airflow_api_url,
                settings.airflow_api_user,
                settings.airflow_api_password,
            )
            click.echo(f"pools synced in Airflow: {', '.join(pools)}")
        except Exception as exc:  # Airflow may be down: pools are synced again when it starts
            click.echo(
                f"warning: could not sync Airflow pools at {settings.airflow_api_url}: {exc}", err=True
            )
    sys.exit(1 if errors else 0)


@config.command("list")
@click.option("--json", "as_json", is_flag=True)
def config_list(as_json: bool) -> None:
    """List the stored configs."""
    from listings.config.store import list_configs
    from listings.db.engine import get_engine

    with get_engine().connect() as conn:
        stored = list_configs(conn)
    if as_json:
        click.echo(json.dumps([{"version": s.version, **s.config.document()} for s in stored], indent=2))
        return
    click.echo(f"{'dmo':>6}  {'dag_id':24} {'source':9} {'schedule':8} {'ver':>3} {'active':6} name")
    for s in stored:
        c = s.config
        click.echo(
            f"{c.dmo.id:>6}  {c.dag_id:24} {c.source_type.value:9} {c.schedule.value:8} {s.version:>3} "
            f"{'yes' if c.active else 'no':6} {c.dmo.name}"
        )


@config.command("export")
@click.argument("dmo_id", type=int)
@click.option("--domain", default="listings", show_default=True)
def config_export(dmo_id: int, domain: str) -> None:
    """Print a stored config as YAML."""
    from listings.config.store import get_config, to_yaml
    from listings.db.engine import get_engine

    with get_engine().connect() as conn:
        click.echo(to_yaml(get_config(conn, dmo_id, domain).config), nl=False)


@config.command("preview")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--limit", default=5, show_default=True)
@click.option(
    "--file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Upload to preview."
)
def config_preview(path: Path, limit: int, file: Path | None) -> None:
    """Fetch and map the first records of a config file without writing anything (JSON on stdout)."""
    from listings.config.preview import preview
    from listings.config.store import ConfigError, load_config_file
    from listings.sources.base import SourceError
    from listings.sources.files import scratch_dir

    try:
        config = load_config_file(path)
        with scratch_dir() as tmp:
            if file is not None:  # the operator's own file: read through a private copy
                file = Path(shutil.copy(file, tmp / file.name))
            result = preview(config, limit=limit, file=file)
    except (ConfigError, SourceError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))


# --- run ---------------------------------------------------------------------------------------
@main.command("run")
@click.argument("dmo_id", type=int)
@click.option("--file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="File to import.")
@click.option("--domain", default="listings", show_default=True)
def run(dmo_id: int, file: Path | None, domain: str) -> None:
    """Run one DMO job end to end in-process; print the job id, counts and stage timings as JSON."""
    from listings.pipeline.runner import JobFailed, run_job

    try:
        # stdout is the JSON alone: anything the steps print or log there while they run goes to stderr
        # (Airflow's logging, configured when a step first asks it for a connection, writes to stdout).
        with contextlib.redirect_stdout(sys.stderr):
            summary = run_job(dmo_id, file=file, data_domain=domain)
    except JobFailed as exc:
        click.echo(
            json.dumps(
                {"job_id": exc.job_id, "status": "failed", "step": exc.step, "error": str(exc.__cause__)}
            )
        )
        sys.exit(1)
    click.echo(json.dumps(summary))


# --- jobs --------------------------------------------------------------------------------------
@main.group()
def jobs() -> None:
    """Pipeline jobs."""


@jobs.command("reap")
@click.option(
    "--older-than",
    type=click.IntRange(min=0),
    default=None,
    help="Heartbeat timeout in seconds (default: LISTINGS_JOB_STALE_AFTER_SECONDS).",
)
@click.option("--dmo", "dmo_id", type=int, help="Only this DMO's jobs.")
@click.option("--no-airflow", is_flag=True, help="Do not ask Airflow's REST API about its DAG runs.")
def jobs_reap(older_than: int | None, dmo_id: int | None, no_airflow: bool) -> None:
    """Mark in_progress jobs whose process is gone `stale` (with the reason) and drop the staging rows of
    those never promoted; prints one JSON line per job reaped."""
    from datetime import timedelta

    from listings.db.engine import get_engine
    from listings.pipeline.liveness import airflow_live_runs, reap_stale_jobs

    live_runs = None if no_airflow else airflow_live_runs()
    with get_engine().begin() as conn:
        reaped = reap_stale_jobs(
            conn,
            older_than=timedelta(seconds=older_than) if older_than is not None else None,
            dmo_id=dmo_id,
            live_runs=live_runs,
        )
    for r in reaped:
        click.echo(json.dumps(r.__dict__))
    click.echo(f"{len(reaped)} job(s) reaped", err=True)


# --- removal holds -----------------------------------------------------------------------------
@main.group()
def removal() -> None:
    """Removal sweeps held for review (a full snapshot with too few records removed nothing)."""


def _default_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@removal.command("holds")
@click.option("--dmo", "dmo_id", type=int, help="Only this DMO's holds.")
@click.option("--all", "show_all", is_flag=True, help="Released and dismissed holds too.")
def removal_holds(dmo_id: int | None, show_all: bool) -> None:
    """List the removal holds (open ones by default), newest first, as JSON lines."""
    from listings.catalogue.lifecycle import holds
    from listings.db.engine import get_engine

    with get_engine().connect() as conn:
        found = holds(conn, dmo_id=dmo_id, status=None if show_all else "held")
    for h in found:
        click.echo(json.dumps({**h.__dict__, "summary": h.summary}, default=str))


@removal.command("release")
@click.argument("job_id", type=int)
@click.option("--user", default=None, help="Who releases it (default: the login name).")
def removal_release(job_id: int, user: str | None) -> None:
    """Release a held removal: the job's sweep runs now, as the run would have."""
    from listings.catalogue.lifecycle import HoldError, release_hold
    from listings.db.engine import get_engine

    try:
        with get_engine().begin() as conn:
            hold = release_hold(conn, job_id, user=user or _default_user())
    except HoldError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"job {job_id}: removal released, {hold.records_deleted or 0} listing_info removed")


@removal.command("dismiss")
@click.argument("job_id", type=int)
@click.option("--user", default=None, help="Who dismisses it (default: the login name).")
def removal_dismiss(job_id: int, user: str | None) -> None:
    """Dismiss a held removal: nothing is removed (a later run decides again)."""
    from listings.catalogue.lifecycle import HoldError, dismiss_hold
    from listings.db.engine import get_engine

    try:
        with get_engine().begin() as conn:
            dismiss_hold(conn, job_id, user=user or _default_user())
    except HoldError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"job {job_id}: removal hold dismissed, nothing removed")


@main.command("dbt", context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dbt_command(args: tuple[str, ...]) -> None:
    """Run dbt on the project with this installation's database (e.g. `listings dbt docs generate`)."""
    from listings.pipeline.promote import DbtError, run_dbt

    try:
        run_dbt(list(args), quiet=False)
    except DbtError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command("rematch")
@click.option("--dmo", "dmo_id", type=int, help="Only this DMO (default: every DMO).")
@click.option("--dry-run", is_flag=True, help="Report what would change; change nothing.")
def rematch(dmo_id: int | None, dry_run: bool) -> None:
    """Run matching again over the stored transformed files (after a threshold or rule change): print each
    change as a JSON line, then apply them unless --dry-run."""
    from listings.catalogue import rematch as rm
    from listings.db.engine import get_engine
    from listings.matching.engine import Thresholds

    s = get_settings()
    changes = rm.plan(
        get_engine(),
        dmo_id=dmo_id,
        thresholds=Thresholds(s.match_auto_threshold, s.match_review_threshold, s.match_margin),
    )
    if changes:
        click.echo(rm.report(changes))
    summary: dict[str, int] = {}
    for c in changes:
        summary[c.action] = summary.get(c.action, 0) + 1
    if dry_run:
        click.echo(f"dry run: {len(changes)} change(s) would be made {summary}", err=True)
        return
    click.echo(f"applied: {rm.apply(get_engine(), changes)}", err=True)


@main.group()
def matching() -> None:
    """The match model: fit it on the catalogue, measure it on the labelled review decisions."""


def _thresholds() -> tuple[float, float]:
    s = get_settings()
    return s.match_auto_threshold, s.match_review_threshold


def _report_rows(conn: Any, models: list[tuple[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    from listings.matching import model_store

    labels = model_store.load_labels(conn)
    auto, review = _thresholds()
    rows = [
        {"model": name, **model_store.evaluate(m, labels, auto=auto, review=review)} for name, m in models
    ]
    return len(labels), rows


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@matching.command("fit")
@click.option(
    "--seed", type=int, default=14, show_default=True, help="Sampling seed (same seed, same model)."
)
@click.option("--sample", type=int, default=5000, show_default=True, help="Listings sampled for pairs.")
@click.option("--random-pairs", "n_random", type=int, default=20_000, show_default=True)
@click.option("--fix-u", is_flag=True, help="Keep u from random pairs (Splink's setting) instead of EM's.")
@click.option("--from-labels", is_flag=True, help="Count m and u on the labelled pairs instead of EM.")
@click.option(
    "--from-stored", is_flag=True, help="Start from the latest stored model, not the documented defaults."
)
@click.option("--dry-run", is_flag=True, help="Fit and print; store nothing.")
def matching_fit(
    seed: int, sample: int, n_random: int, fix_u: bool, from_labels: bool, from_stored: bool, dry_run: bool
) -> None:
    """Fit a Fellegi-Sunter model (EM on the catalogue's candidate pairs, u on random pairs, term
    frequencies of names, phones and website hosts), check it on the labelled pairs and store it: the match
    step then scores with it. Prints the model's levels and its figures as JSON."""
    from listings.db.engine import get_engine
    from listings.matching import fellegi_sunter as fs
    from listings.matching import model_store

    with get_engine().begin() as conn:
        found = model_store.latest_model(conn) if from_stored else None
        start = found[1] if found is not None else fs.DEFAULT_FS_MODEL
        if from_labels:
            labels = model_store.load_labels(conn)
            if not labels:
                raise click.ClickException("no labelled pairs yet: decide review items first, or fit by EM")
            result = model_store.FitResult(
                model_store.fit_labels(labels, start=start), "labels", 0, 0, len(labels)
            )
        else:
            result = model_store.fit_catalogue(
                conn, seed=seed, sample=sample, n_random=n_random, fix_u=fix_u, start=start
            )
        n_labels, rows = _report_rows(conn, [("fitted", result.model)])
        result.metrics = {"labels": rows[0], "seed": seed}
        model_id = None
        if not dry_run:
            model_id = model_store.save_model(
                conn,
                result.model,
                source=result.source,
                candidate_pairs=result.candidate_pairs,
                random_pairs=result.random_pairs,
                labelled_pairs=n_labels,
                metrics=result.metrics,
            )
    for f, level, m, u, w in result.model.describe():
        click.echo(f"{f:<9} {level:<18} m {m:.4f}  u {u:.4f}  weight {w:+.2f}", err=True)
    click.echo(
        json.dumps(
            {
                "model_id": model_id,
                "source": result.source,
                "prior": result.model.prior,
                "candidate_pairs": result.candidate_pairs,
                "random_pairs": result.random_pairs,
                "labelled_pairs": n_labels,
                "meta": dict(result.model.meta),
                "labels": result.metrics["labels"],
            },
            default=str,
        )
    )


@matching.command("report")
@click.option("--model", "model_id", type=int, help="A stored model's id (default: the latest).")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per model.")
def matching_report(model_id: int | None, as_json: bool) -> None:
    """Precision, recall and F1 on the labelled pairs of the stored model, the Fellegi-Sunter default and the
    logistic default, at the auto-merge threshold (auto-merged) and the review threshold (auto-merged or
    shown to a reviewer)."""
    from sqlalchemy import text

    from listings.db.engine import get_engine
    from listings.matching import fellegi_sunter as fs
    from listings.matching import model_store
    from listings.matching.scoring import DEFAULT_MODEL

    with get_engine().connect() as conn:
        models: list[tuple[str, Any]] = []
        if model_id is not None:
            params = conn.execute(
                text("select params from pipeline.match_models where id = :i"), {"i": model_id}
            ).scalar()
            if params is None:
                raise click.ClickException(f"no stored model {model_id}")
            models.append((f"stored #{model_id}", fs.FSModel.from_params(params)))
        elif (found := model_store.latest_model(conn)) is not None:
            models.append((f"stored #{found[0]}", found[1]))
        models += [("fs default", fs.DEFAULT_FS_MODEL), ("logistic default", DEFAULT_MODEL)]
        n_labels, rows = _report_rows(conn, models)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    auto, review = _thresholds()
    true = rows[0]["true"] if rows else 0
    click.echo(f"{n_labels} labelled pairs ({true} same place); auto-merge > {auto}, review >= {review}")
    click.echo(
        f"{'model':<18} {'at':<7} {'precision':>9} {'recall':>7} {'F1':>6} {'tp':>5} {'fp':>5} {'fn':>5}"
    )
    for row in rows:
        for at, key in (("auto", "auto_merge"), ("review", "review")):
            r = row[key]
            click.echo(
                f"{row['model']:<18} {at:<7} {_fmt(r['precision']):>9} {_fmt(r['recall']):>7} {_fmt(r['f1']):>6}"
                f" {r['tp']:>5} {r['fp']:>5} {r['fn']:>5}"
            )


@main.command("refetch-images")
@click.option("--image", "image_id", type=int, help="One image (pipeline.images.id), e.g. a failed one.")
@click.option("--listing", "listing_id", type=int, help="Every image a listing shows.")
@click.option("--user", default="cli", show_default=True, help="Who asked, for the log.")
def refetch_images(image_id: int | None, listing_id: int | None, user: str) -> None:
    """Fetch images again (no conditional GET) and update the public rows showing them; one JSON line each."""
    from listings.pipeline.images import refetch

    try:
        results = refetch(image_id=image_id, listing_id=listing_id, user=user)
    except (ValueError, LookupError) as exc:
        raise click.ClickException(str(exc)) from exc
    for result in results:
        click.echo(json.dumps(result))


# --- airflow (single machine) ---------------------------------------------------------------------
@main.group()
def airflow() -> None:
    """Airflow helpers; with the development tools, Airflow on this machine for the demo."""


@airflow.command("pools-file")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def airflow_pools_file(path: Path) -> None:
    """Write the pools every active config needs, for `airflow pools import PATH`."""
    from listings.orchestration.pools import active_pools_document

    path.write_text(json.dumps(active_pools_document(), indent=2))
    click.echo(f"wrote {path}")


def _development_commands() -> None:
    """`db start|stop|status`, `airflow start|stop|status` and `demo-sites` come with the development tools
    (`listings_dev`: the project-local PostgreSQL and Airflow of `make demo`), which the runtime image leaves
    out. Looked up by name: the runtime package never imports them."""
    if importlib.util.find_spec("listings_dev") is not None:
        importlib.import_module("listings_dev.cli").register(main)


_development_commands()

if __name__ == "__main__":
    main()
