"""Development tools: the project-local PostgreSQL and Airflow of `make demo`, the local stand-ins for every
source site, the listing generator and the labelled matching sets of the tests and benches.

Nothing in the `listings` package imports this one (an import-linter contract checks it); the runtime image
leaves it out. `listings` gains the development commands (`db start`, `airflow start`, `demo-sites`) when it is
installed (`listings_dev.cli`).
"""
