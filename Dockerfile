# syntax=docker/dockerfile:1
#
# Airflow image for the listings pipeline: the official Airflow 3 image, extended as its docs
# recommend (https://airflow.apache.org/docs/docker-stack/build.html): OS packages as root, Python
# packages as the airflow user, with apache-airflow pinned so pip can never up- or downgrade it.
#
#   docker compose build            # or: docker build -t listings-pipeline-airflow:local .
FROM apache/airflow:3.3.2-python3.11

# --- OS packages (runtime only) ----------------------------------------------------------------
# postgresql-client: psql/pg_dump/pg_isready for operations and debugging (no server in here).
# 0 = root; 50000 = airflow, the base image's user (numeric, as the base image sets it).
USER 0
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && apt-get autoremove -yqq --purge \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

# --- Python dependencies (pinned set; own layer so code changes do not reinstall it) -----------
USER 50000
COPY --chown=airflow:0 requirements.txt /opt/airflow/requirements.txt
# AIRFLOW_VERSION comes from the base image (3.3.2), so the resolver keeps the image's Airflow.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/airflow/requirements.txt

# --- The project ----------------------------------------------------------------------------------
ENV LISTINGS_HOME=/opt/airflow/data \
    DO_NOT_TRACK=1 \
    GX_ANALYTICS_ENABLED=false

# include/ dags/ plugins/ dbt/ scrapers/ pyproject.toml README.md (.dockerignore is an allow-list); not the
# development tools (include/listings_dev: local PostgreSQL and Airflow, demo sites, generators).
COPY --chown=airflow:0 . /opt/airflow/

# The `listings` package (include/listings) and its `listings` console script. Editable, so the
# development bind mounts of ./include in docker-compose.yaml take effect without a rebuild.
# Group 0 gets the owner's rights: the stack may run with any AIRFLOW_UID in group 0.
RUN pip install --no-cache-dir --no-deps -e /opt/airflow \
    && mkdir -p "${LISTINGS_HOME}" /opt/airflow/auth \
        /opt/airflow/dags /opt/airflow/plugins /opt/airflow/dbt /opt/airflow/scrapers \
    && chmod -R g=u "${LISTINGS_HOME}" /opt/airflow/auth /opt/airflow/include \
        /opt/airflow/dags /opt/airflow/plugins /opt/airflow/dbt /opt/airflow/scrapers \
    && python -c "import listings" \
    && command -v listings >/dev/null \
    && pip show apache-airflow-providers-celery >/dev/null
