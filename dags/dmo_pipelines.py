"""Airflow DAGs: one per active DMO config (dmo_<id>_<domain>), built by the listings DAG factory.

The factory lives in `listings.orchestration.dag_factory`; this file only exposes its DAGs.
"""

from listings.orchestration.dag_factory import build_dmo_dags

globals().update(build_dmo_dags())
