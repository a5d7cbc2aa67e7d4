"""Test helpers for the service layer: the app's own route list, built in-process."""

from __future__ import annotations

import warnings

from litestar.routes import HTTPRoute

from domain.settings import Settings
from server.app import create_app


def http_routes(prefix: str = "/api/v1/") -> list[tuple[str, HTTPRoute]]:
    """(method, route) of every HTTP route under `prefix`, from an app built here (never
    started: nothing is connected), so a route added later is found by itself."""
    with warnings.catch_warnings():
        # Building the app raises ~440 Litestar-3 deprecations about spellings the whole API
        # uses (inferred dependencies and path/query parameters, reserved kwargs without a
        # body marker, `Parameter(query=...)`, an ASGI route without `copy_scope`): migration
        # work of its own. Only an app built inside the test process meets the suite's
        # warnings-as-errors (uvicorn's are not), so they are ignored for this one build.
        warnings.simplefilter("ignore", DeprecationWarning)
        app = create_app(Settings(database_url="postgresql://unused/x",
                                  redis_url="redis://unused"))
    return [(method, route) for route in app.routes if isinstance(route, HTTPRoute)
            and route.path.startswith(prefix)
            for method in sorted(route.route_handler_map) if method not in ("OPTIONS", "HEAD")]
