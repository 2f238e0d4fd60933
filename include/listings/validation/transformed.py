r"""Great Expectations checks on transformed records: the expectation suite, its one cached in-memory GX
context, and a report that names, per record_no, every expectation the record failed and why.

This module owns the rules (which field, which expectation, which severity) and the human-readable
messages. It rejects nothing itself: the pipeline's transform step rejects a record with an `error`
failure (it cannot become a usable listing: it never reaches staging, and its error rows keep it), but for
a missing location alone (such a record may still join a listing that has one: promotion rejects it when
it would start a listing); a record with only `warning` failures is promoted, flagged.

Design notes a reviewer needs:

* GX runs on a pandas frame built here with only the validated columns. Patterns end in `\Z`, not `$`
  (Python's `$` also matches before a trailing newline), and use `[0-9]`, not `\d` (which matches
  full-width and Arabic-Indic digits). GX casts a column to `str` before a regex: under pandas 3 with
  pyarrow installed that runs on RE2, and pandas (>= 3.1) rewrites `\Z` to RE2's `\z` and falls back to
  Python's `re` where they differ; the tests pass with and without pyarrow 26.
* Failures are attributed through the frame's positional index, which GX returns in full in
  `unexpected_index_list`. GX's `unexpected_list` (the values) is capped at 200 even with COMPLETE, so
  messages quote the record's own value instead. Asking GX for `unexpected_index_column_names=["record_no"]`
  gives the same attribution about 3x slower (1.2 s vs 0.4 s for 100k records, 10 expectations).
* Values a rule treats as absent ("when present") are None, blank strings and float NaN.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
    from great_expectations.core.validation_definition import ValidationDefinition
    from great_expectations.expectations.expectation import Expectation

Severity = Literal["error", "warning"]

E164_PATTERN = r"^\+[1-9][0-9]{6,14}\Z"
# Scheme, then a host with at least one dot, then an optional path/query/fragment; no whitespace.
WEBSITE_PATTERN = r"^(?i:https?)://[^\s/?#@]+\.[^\s/?#@]+(?:[/?#]\S*)?\Z"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z"
COUNTRY_PATTERN = r"^[A-Z]{2}\Z"
NOT_BLANK_PATTERN = r"\S"
# The same regexes compiled, for callers that check one value without GX (e.g. a form or a test).
PATTERNS: Mapping[str, re.Pattern[str]] = {
    "phone_e164": re.compile(E164_PATTERN),
    "website": re.compile(WEBSITE_PATTERN),
    "email": re.compile(EMAIL_PATTERN),
    "country": re.compile(COUNTRY_PATTERN),
}

# Longest value quoted in a message; source fields can hold whole paragraphs.
_QUOTE_MAX = 80


@dataclass(frozen=True, slots=True)
class Failure:
    """One expectation one record failed."""

    expectation: str
    column: str
    severity: Severity
    message: str


@dataclass(frozen=True, slots=True)
class ExpectationSummary:
    """One expectation over the whole batch; the percent is of all evaluated records."""

    name: str
    column: str
    severity: Severity
    unexpected_count: int
    unexpected_percent: float


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """`success` is False when any `error` expectation failed; warnings never change it."""

    success: bool
    evaluated: int
    failures: dict[int, list[Failure]] = field(default_factory=dict)  # by record_no, ascending
    summary: list[ExpectationSummary] = field(default_factory=list)  # one per rule, suite order

    def records_with(self, severity: Severity) -> list[int]:
        """The record_nos with at least one failure of this severity, ascending."""
        return [no for no, fails in self.failures.items() if any(f.severity == severity for f in fails)]


@dataclass(frozen=True, slots=True)
class Rule:
    """One expectation: its name in reports, the frame column GX checks, and how to explain a failure."""

    name: str
    column: str
    severity: Severity
    expectation: Callable[[], Expectation]
    message: Callable[[Mapping[str, Any]], str]


# ------------------------------------------------------------------------------------------------
# Values


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return not _is_nan(value)


def _quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _QUOTE_MAX else text[: _QUOTE_MAX - 1] + "…"


def _coordinate(value: Any) -> float:
    """NaN when absent; +inf when present but not a finite number, so that the range check fails it."""
    if not _present(value):
        return math.nan
    if isinstance(value, bool):
        return math.inf
    try:
        number = float(value) if isinstance(value, int | float) else float(str(value).strip())
    except (TypeError, ValueError, OverflowError):
        return math.inf
    return number if math.isfinite(number) else math.inf


def _is_number_text(value: Any) -> bool:
    """Whether a value that is not a finite coordinate is at least a finite number (then: out of range)."""
    try:
        return not isinstance(value, bool) and math.isfinite(float(str(value).strip()))
    except (TypeError, ValueError, OverflowError):
        return False


def _has_location(rec: Mapping[str, Any]) -> bool:
    coordinates = _present(rec.get("lat")) and _present(rec.get("lng"))
    address = _present(rec.get("address1")) and _present(rec.get("city"))
    return coordinates or address


# ------------------------------------------------------------------------------------------------
# Rules


def _location_message(rec: Mapping[str, Any]) -> str:
    message = "neither coordinates (lat + lng) nor an address (address1 + city) is present"
    # transform drops an unusable coordinate and flags it: say which, since the source did send one
    dropped = [
        f.split(": ", 1)[-1] for f in rec.get("flags") or () if f.startswith(("invalid_lat", "invalid_lng"))
    ]
    return f"{message} (dropped: {'; '.join(dropped)})" if dropped else message


def _category_message(rec: Mapping[str, Any]) -> str:
    raw = rec.get("category_raw")
    if _present(raw):
        return f"category {_quote(raw)} is not in the category vocabulary"
    return "category is missing"


def _range_message(column: str, low: int, high: int) -> Callable[[Mapping[str, Any]], str]:
    def message(rec: Mapping[str, Any]) -> str:
        value = rec.get(column)
        if _coordinate(value) == math.inf and not _is_number_text(value):
            return f"{column} {_quote(value)} is not a number"
        return f"{column} {_quote(value)} is outside [{low}, {high}]"

    return message


def _shape_message(column: str, shape: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda rec: f"{column} {_quote(rec.get(column))} is not {shape}"


def _country_message(rec: Mapping[str, Any]) -> str:
    value = rec.get("country")
    if not _present(value):
        return "country is missing (expected a 2-letter upper-case ISO code)"
    return f"country {_quote(value)} is not a 2-letter upper-case ISO code"


def _rules() -> tuple[Rule, ...]:
    # Imported from their defining modules: the `great_expectations.expectations` re-exports are implicit
    # (mypy --strict rejects them).
    from great_expectations.expectations.core.expect_column_values_to_be_between import (
        ExpectColumnValuesToBeBetween,
    )
    from great_expectations.expectations.core.expect_column_values_to_be_in_set import (
        ExpectColumnValuesToBeInSet,
    )
    from great_expectations.expectations.core.expect_column_values_to_match_regex import (
        ExpectColumnValuesToMatchRegex,
    )
    from great_expectations.expectations.core.expect_column_values_to_not_be_null import (
        ExpectColumnValuesToNotBeNull,
    )
    from great_expectations.expectations.metadata_types import FailureSeverity

    # GX's own severity is set too, so that the suite shows the same levels wherever GX renders it.
    gx_severity = {"error": FailureSeverity.CRITICAL, "warning": FailureSeverity.WARNING}

    def regex(column: str, pattern: str, severity: Severity) -> Callable[[], Expectation]:
        return lambda: ExpectColumnValuesToMatchRegex(
            column=column, regex=pattern, severity=gx_severity[severity]
        )

    def between(column: str, low: int, high: int, severity: Severity) -> Callable[[], Expectation]:
        return lambda: ExpectColumnValuesToBeBetween(
            column=column, min_value=low, max_value=high, severity=gx_severity[severity]
        )

    def not_null(column: str, severity: Severity) -> Callable[[], Expectation]:
        return lambda: ExpectColumnValuesToNotBeNull(column=column, severity=gx_severity[severity])

    def is_true(column: str, severity: Severity) -> Callable[[], Expectation]:
        return lambda: ExpectColumnValuesToBeInSet(
            column=column, value_set=[True], severity=gx_severity[severity]
        )

    # error: the record cannot become a usable listing, or the transform produced an impossible value.
    # warning: source content quality the DMO should fix; the listing is still usable.
    return (
        Rule("name_not_null", "name", "error", not_null("name", "error"), lambda _: "name is missing"),
        Rule(
            "name_not_blank",
            "name",
            "error",
            regex("name", NOT_BLANK_PATTERN, "error"),
            lambda rec: f"name {_quote(rec.get('name'))} is blank",
        ),
        Rule("category_not_null", "category", "warning", not_null("category", "warning"), _category_message),
        Rule(
            "location_present",
            "has_location",
            "error",
            is_true("has_location", "error"),
            _location_message,
        ),
        Rule(
            "lat_in_range", "lat", "error", between("lat", -90, 90, "error"), _range_message("lat", -90, 90)
        ),
        Rule(
            "lng_in_range",
            "lng",
            "error",
            between("lng", -180, 180, "error"),
            _range_message("lng", -180, 180),
        ),
        Rule(
            "phone_e164_format",
            "phone_e164",
            "error",
            regex("phone_e164", E164_PATTERN, "error"),
            _shape_message("phone_e164", "E.164"),
        ),
        Rule(
            "website_format",
            "website",
            "warning",
            regex("website", WEBSITE_PATTERN, "warning"),
            _shape_message("website", "an http(s) URL"),
        ),
        Rule(
            "email_format",
            "email",
            "warning",
            regex("email", EMAIL_PATTERN, "warning"),
            _shape_message("email", "an e-mail address"),
        ),
        Rule(
            "country_code", "country", "error", regex("country", COUNTRY_PATTERN, "error"), _country_message
        ),
    )


# ------------------------------------------------------------------------------------------------
# The frame GX sees


def _frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    def column(values: list[Any]) -> pd.Series:
        return pd.Series(values, dtype=object)

    def optional(name: str) -> pd.Series:
        return column([v if _present(v := r.get(name)) else None for r in records])

    def keep_blank(name: str) -> pd.Series:
        # Blanks stay (name_not_blank must see them); only a NaN (a record read through pandas) is None.
        return column([None if _is_nan(v := r.get(name)) else v for r in records])

    return pd.DataFrame(
        {
            "name": keep_blank("name"),
            "category": optional("category"),
            "has_location": pd.Series([_has_location(r) for r in records], dtype=bool),
            "lat": pd.Series([_coordinate(r.get("lat")) for r in records], dtype="float64"),
            "lng": pd.Series([_coordinate(r.get("lng")) for r in records], dtype="float64"),
            "phone_e164": optional("phone_e164"),
            "website": optional("website"),
            "email": optional("email"),
            # A missing country is as wrong as a malformed one: "" makes the regex, which skips nulls, fail it.
            "country": column([v if _present(v := r.get("country")) else "" for r in records]),
        }
    )


# ------------------------------------------------------------------------------------------------
# The cached GX context


@dataclass(frozen=True, slots=True)
class _Validator:
    definition: ValidationDefinition
    rules: dict[str, Rule]  # by the GX expectation's `meta["rule"]`


_lock = threading.Lock()
_validator: _Validator | None = None

# COMPLETE for the full index list; no index query string (a 100k-item Python literal) and no partial lists.
_RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "return_unexpected_index_query": False,
    "partial_unexpected_count": 0,
}


def _build() -> _Validator:
    # GX logs its own import and set-up at INFO (hundreds of lines): noise in a job's log. Before the import.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # In-memory stores: nothing is written to disk (no gx/ folder); no analytics; no tqdm bars on stderr.
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    batch = (
        ctx.data_sources.add_pandas("listings")
        .add_dataframe_asset("transformed")
        .add_batch_definition_whole_dataframe("batch")
    )
    rules = _rules()
    suite = ctx.suites.add(gx.ExpectationSuite(name="transformed_listings"))
    for rule in rules:
        expectation = rule.expectation()
        expectation.meta = {"rule": rule.name}
        suite.add_expectation(expectation)
    definition = ctx.validation_definitions.add(
        gx.ValidationDefinition(name="transformed_listings", data=batch, suite=suite)
    )
    return _Validator(definition=definition, rules={r.name: r for r in rules})


def _get_validator() -> _Validator:
    global _validator
    with _lock:
        if _validator is None:
            _validator = _build()
        return _validator


def warm_up() -> None:
    """Import GX and build the context now (about 2.5 s, once per process) rather than on the first batch."""
    _get_validator()


def rules() -> list[tuple[str, str, Severity]]:
    """(name, column, severity) of every expectation, in suite order."""
    return [(r.name, r.column, r.severity) for r in _get_validator().rules.values()]


# ------------------------------------------------------------------------------------------------


def validate_transformed(records: Sequence[Mapping[str, Any]]) -> ValidationReport:
    """Run the suite over one batch of transformed records.

    Records are attributed by their `record_no`; a record without an int record_no is named by its
    1-based position in `records`.
    """
    validator = _get_validator()
    record_nos = [_record_no(r, i) for i, r in enumerate(records, start=1)]
    frame = _frame(records)
    # One ValidationDefinition is shared: GX binds the dataframe to the batch definition per run.
    with _lock:
        result = validator.definition.run(batch_parameters={"dataframe": frame}, result_format=_RESULT_FORMAT)
    return _report(result, validator.rules, records, record_nos)


def _record_no(rec: Mapping[str, Any], position: int) -> int:
    no = rec.get("record_no")
    return no if isinstance(no, int) and not isinstance(no, bool) else position


def _report(
    result: ExpectationSuiteValidationResult,
    rules_by_name: Mapping[str, Rule],
    records: Sequence[Mapping[str, Any]],
    record_nos: Sequence[int],
) -> ValidationReport:
    evaluated = len(records)
    by_position: dict[int, list[Failure]] = {}
    counts: dict[str, int] = {}
    for res in result.results:
        config = res.expectation_config
        if config is None or not config.meta or config.meta.get("rule") not in rules_by_name:
            raise RuntimeError(f"GX returned a result for an unknown expectation: {config}")
        rule = rules_by_name[config.meta["rule"]]
        if res.exception_info.get("raised_exception"):
            # A rule that cannot run is a bug here (the frame is built for the suite), never a data issue.
            raise RuntimeError(
                f"expectation {rule.name} raised: {res.exception_info.get('exception_message')}"
            )
        positions = [int(p) for p in res.result.get("unexpected_index_list") or []]
        unexpected = int(res.result.get("unexpected_count") or 0)
        if len(positions) != unexpected:
            raise RuntimeError(
                f"expectation {rule.name}: GX returned {len(positions)} row indexes for {unexpected} failures"
            )
        counts[rule.name] = unexpected
        for pos in positions:
            failure = Failure(rule.name, rule.column, rule.severity, rule.message(records[pos]))
            by_position.setdefault(pos, []).append(failure)

    order = {name: i for i, name in enumerate(rules_by_name)}

    failures: dict[int, list[Failure]] = {}
    for pos in sorted(by_position, key=lambda p: (record_nos[p], p)):
        fails = sorted(by_position[pos], key=lambda f: order[f.expectation])
        failures.setdefault(record_nos[pos], []).extend(fails)
    summary = [
        ExpectationSummary(
            name=rule.name,
            column=rule.column,
            severity=rule.severity,
            unexpected_count=counts.get(rule.name, 0),
            unexpected_percent=100.0 * counts.get(rule.name, 0) / evaluated if evaluated else 0.0,
        )
        for rule in rules_by_name.values()
    ]
    success = not any(s.severity == "error" and s.unexpected_count for s in summary)
    return ValidationReport(success=success, evaluated=evaluated, failures=failures, summary=summary)
