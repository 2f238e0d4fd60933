"""An ASGI app that imports the real one on its first request.

Airflow loads every plugin in every process that asks for plugins, including each task's process (for
macros and listeners), where importing the admin app (FastAPI, Airflow's API security module) would
cost about a second per task and serve nothing. The API server mounts this stand-in instead; the first
request builds the app.
"""

from __future__ import annotations

import threading
from importlib import import_module
from typing import Any


class LazyApp:
    def __init__(self, target: str) -> None:
        """`target`: "module:attribute" of the ASGI app, e.g. "listings_admin.main:app"."""
        self.target = target
        self._app: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LazyApp({self.target!r})"

    @property
    def app(self) -> Any:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    module, _, attribute = self.target.partition(":")
                    self._app = getattr(import_module(module), attribute)
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
