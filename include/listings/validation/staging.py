"""The quality gate before promotion: a Great Expectations checkpoint on one job's staged batch.

Transform's suite (`validation.transformed`) flags records; this gate checks what promotion relies on,
for the batch as a whole, and a failure stops the job's promotion with a message naming each failed
expectation and a few offending record numbers, leaving `public` untouched:

- every staged listing_info has its listings, locations and contact_info rows (same record_no);
- record numbers are unique in the job; record_hash and a non-blank name are present;
- every row belongs to the job's DMO;
- coordinates, when present, are in range; phones are E.164 and websites URLs, when present.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from listings.validation.transformed import E164_PATTERN, NOT_BLANK_PATTERN, WEBSITE_PATTERN

if TYPE_CHECKING:
    from great_expectations.checkpoint.checkpoint import Checkpoint

STAGED_BATCH = """
select
    li.record_no, li.record_hash, li.name, li.dmo_id,
    l.record_no is not null as has_listing,
    loc.record_no is not null as has_location,
    ci.record_no is not null as has_contact,
    loc.lat::float8 as lat, loc.lng::float8 as lng,
    ci.international_phone, ci.website_url
from staging.listing_info li
left join staging.listings l on l.job_id = li.job_id and l.record_no = li.record_no
left join staging.locations loc on loc.job_id = li.job_id and loc.record_no = li.record_no
left join staging.contact_info ci on ci.job_id = li.job_id and ci.record_no = li.record_no
where li.job_id = %(j)s
"""


class GateFailed(RuntimeError):
    """The staged batch broke an expectation: the job is not promoted."""


@dataclass(frozen=True)
class GateResult:
    success: bool
    evaluated: int
    failures: list[str]


_lock = threading.Lock()
_checkpoint: Checkpoint | None = None


def _expectations() -> list[Any]:
    from great_expectations.expectations.core.expect_column_values_to_be_between import (
        ExpectColumnValuesToBeBetween as Between,
    )
    from great_expectations.expectations.core.expect_column_values_to_be_in_set import (
        ExpectColumnValuesToBeInSet as InSet,
    )
    from great_expectations.expectations.core.expect_column_values_to_be_unique import (
        ExpectColumnValuesToBeUnique as Unique,
    )
    from great_expectations.expectations.core.expect_column_values_to_match_regex import (
        ExpectColumnValuesToMatchRegex as Regex,
    )
    from great_expectations.expectations.core.expect_column_values_to_not_be_null import (
        ExpectColumnValuesToNotBeNull as NotNull,
    )

    return [
        Unique(column="record_no"),
        NotNull(column="record_hash"),
        NotNull(column="name"),
        Regex(column="name", regex=NOT_BLANK_PATTERN),
        InSet(column="dmo_id", value_set={"$PARAMETER": "dmo_ids"}),  # the job's DMO, given per run
        InSet(column="has_listing", value_set=[True]),
        InSet(column="has_location", value_set=[True]),
        InSet(column="has_contact", value_set=[True]),
        Between(column="lat", min_value=-90, max_value=90),
        Between(column="lng", min_value=-180, max_value=180),
        Regex(column="international_phone", regex=E164_PATTERN),
        Regex(column="website_url", regex=WEBSITE_PATTERN),
    ]


def _build() -> Checkpoint:
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    ctx = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )
    batch = (
        ctx.data_sources.add_pandas("staging")
        .add_dataframe_asset("staged_batch")
        .add_batch_definition_whole_dataframe("job")
    )
    suite = ctx.suites.add(gx.ExpectationSuite(name="staged_batch"))
    for expectation in _expectations():
        suite.add_expectation(expectation)
    definition = ctx.validation_definitions.add(
        gx.ValidationDefinition(name="staged_batch", data=batch, suite=suite)
    )
    return ctx.checkpoints.add(
        gx.Checkpoint(
            name="before_promotion",
            validation_definitions=[definition],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
        )
    )


def check_staged_batch(conn: Connection, job_id: int, dmo_id: int) -> GateResult:
    """Run the checkpoint over the job's staged rows."""
    import pandas as pd

    global _checkpoint
    # The driver's own cursor: plain tuples are read twice as fast as SQLAlchemy rows (100k records: 0.8 -> 0.4 s).
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute(STAGED_BATCH, {"j": job_id})
        frame = pd.DataFrame.from_records(
            cursor.fetchall(), columns=[c.name for c in cursor.description]
        ).astype({"lat": "float64", "lng": "float64"})
    with _lock:
        if _checkpoint is None:
            _checkpoint = _build()
        result = _checkpoint.run(
            batch_parameters={"dataframe": frame}, expectation_parameters={"dmo_ids": [dmo_id]}
        )
    failures = []
    for validation in result.run_results.values():
        for res in validation.results:
            if res.success:
                continue
            config = res.expectation_config
            assert config is not None
            column = config.kwargs.get("column")
            examples = _examples(frame, res.result.get("partial_unexpected_index_list"), column)
            failures.append(
                f"{config.type} on {column}: {res.result.get('unexpected_count', '?')} of {len(frame)} rows"
                f"{examples}"
            )
    return GateResult(bool(result.success), len(frame), failures)


def _examples(frame: Any, indexes: list[Any] | None, column: str | None) -> str:
    if not indexes:
        return ""

    def plain(value: Any) -> Any:  # numpy scalars print as np.float64(95.0)
        return value.item() if hasattr(value, "item") else value

    shown = [
        f"record {plain(frame.at[i, 'record_no'])} ({plain(frame.at[i, column])!r})"
        for i in indexes[:5]
        if column
    ]
    return " (e.g. " + ", ".join(shown) + ")"


def require_staged_batch(conn: Connection, job_id: int, dmo_id: int) -> GateResult:
    result = check_staged_batch(conn, job_id, dmo_id)
    if not result.success:
        raise GateFailed(
            f"job {job_id}: the staged batch failed the quality gate, nothing was promoted: "
            + "; ".join(result.failures)
        )
    return result
