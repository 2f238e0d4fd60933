"""The listings admin UI, mounted by Airflow's API server (see `listings_admin_plugin.py` beside this
package): the app in `main.py`, its pages in `routes/` (one router per group of pages), rendering in
`rendering.py`, the routes' dependencies and parameter types in `deps.py`, who may do what in `auth.py`,
Jinja2 templates and vendored static assets. Its reads and actions live in `listings.admin`, importable
without Airflow."""
