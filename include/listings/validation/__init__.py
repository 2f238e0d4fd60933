"""Data-quality validation of pipeline outputs with Great Expectations (imported lazily: importing this
package does not import GX or pandas, so DAG parsing stays cheap)."""

from listings.validation.transformed import (
    ExpectationSummary,
    Failure,
    Severity,
    ValidationReport,
    rules,
    validate_transformed,
    warm_up,
)

__all__ = [
    "ExpectationSummary",
    "Failure",
    "Severity",
    "ValidationReport",
    "rules",
    "validate_transformed",
    "warm_up",
]
