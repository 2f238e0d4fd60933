"""The listings admin UI, mounted by Airflow's API server (see `listings_admin_plugin.py` beside this
package): pages in `app.py`, who may do what in `auth.py`, Jinja2 templates and vendored static assets.
Its reads and actions live in `listings.admin`, importable without Airflow."""
