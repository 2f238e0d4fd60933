"""What the admin UI reads and does, without Airflow: paged catalogue queries (`queries`), the actions
behind its buttons (`actions`), and reading stored image objects back for previews (`objects`).

The Airflow plugin under `plugins/listings_admin/` is a thin web layer over these functions.
"""
