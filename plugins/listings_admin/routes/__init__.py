"""The routes of the admin UI: one module per group of pages, each with its `router` (an APIRouter), which
`main.create_app` includes. A route module imports only `rendering`, `deps`, `auth` and the route modules
whose pages it renders again (never `main`), so that each one imports on its own."""
