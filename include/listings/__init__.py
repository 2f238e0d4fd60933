"""listings-pipeline: ingest DMO points of interest into one deduplicated, auditable catalogue."""

__version__ = "0.1.0"
