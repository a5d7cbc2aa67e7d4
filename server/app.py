"""The Litestar application factory: `uvicorn --factory server.app:create_app`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar, get
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.plugins.prometheus import PrometheusConfig
from litestar.response import File, Redirect
from litestar.static_files import create_static_files_router

from domain.ops import covers
from domain.ops.store import activate_store
from domain.settings import Settings, load_settings
from server.api import route_handlers
from server.deps import (
    provide_db,
    provide_optional_reader,
    provide_optional_user,
    provide_reader,
    provide_redis,
    provide_settings,
    provide_user,
    provide_views,
)
from server.di import resolve_dependencies_in_order
from server.docs import docs_asset
from server.health import HealthController
from server.ids import id_guard
from server.logs import configure_logging
from server.metrics import MetricsController, install_metrics, note_use_case
from server.middleware import request_context_middleware
from server.openapi import document_api, openapi_config
from server.plugins import plugins_for
from server.problems import EXCEPTION_HANDLERS
from server.state import Services

log = logging.getLogger("readalong.app")
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SHUTDOWN_HOOKS_S = 12.0  # every shutdown hook together (the write-behind drain takes <= 8 s)


@get("/", include_in_schema=False)
async def index() -> Redirect:
    return Redirect(path="/app/")


@get("/app/oidc-callback", include_in_schema=False)
async def oidc_callback_page() -> File:
    """The app at the identity provider's redirect URI: its callback screen finishes sign-in."""
    return File(WEB_DIR / "index.html", media_type="text/html", content_disposition_type="inline")


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the app from `settings` (or the environment); engines start in the lifespan."""
    settings = settings or load_settings()
    # Collect less often than Python's every 700 allocations (READALONG_GC_THRESHOLD), from
    # before the app build: the build (~0.15 s of GC less per start), a reconnect storm of
    # 2,000 sockets onto one process (715 young, 65 middle and 5 full collections, ~1.2 s of
    # its CPU; 16 young ones at 20,000, 0.39 s) and the moves of 1,000 x 8 readers (a third
    # of the CPU at 700, under 3 % at 50,000)
    settings.apply_gc_threshold()
    activate_store()  # before any metric exists: values go to the host's shared folder
    configure_logging(settings.log_format, settings.log_level)
    resolve_dependencies_in_order()  # no task group per request (server/di.py)
    covers.configure(settings)  # book payloads point at the cover proxy when it is on
    services = Services(settings=settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await services.start()
        for hook in list(services.on_startup):
            await hook(app, services)
        log.info("readalong ready (node %s)", services.settings.node_id)
        try:
            yield
        finally:
            # bounded as a whole: a hook that hangs (a peer gone, a lock held elsewhere) is
            # named in the log and the process still stops in time
            deadline = time.monotonic() + SHUTDOWN_HOOKS_S
            for hook in reversed(services.on_shutdown):
                try:
                    await asyncio.wait_for(hook(app, services),
                                           max(1.0, deadline - time.monotonic()))
                except TimeoutError:
                    log.warning("shutdown hook %s overran the shutdown budget",
                                getattr(hook, "__qualname__", hook))
                except Exception:
                    log.exception("shutdown hook failed")
            try:
                await asyncio.wait_for(services.stop(), 5.0)
            except TimeoutError:
                log.warning("closing the pools overran 5 s at shutdown")

    install_metrics(services)
    prometheus = PrometheusConfig(app_name="readalong", prefix="readalong", group_path=True,
                                  exclude=["/metrics", "/health"])
    handlers: list = [
        index,
        docs_asset,
        HealthController,
        MetricsController,
        *route_handlers(),
    ]
    if WEB_DIR.exists():
        handlers.append(create_static_files_router(path="/app", directories=[WEB_DIR],
                                                   html_mode=True, include_in_schema=False))
        handlers.append(oidc_callback_page)
    app = Litestar(
        route_handlers=handlers,
        lifespan=[lifespan],
        dependencies={
            "settings": Provide(provide_settings),
            "db": Provide(provide_db),
            "redis": Provide(provide_redis),
            "user": Provide(provide_user),
            "maybe_user": Provide(provide_optional_user),
            "reader": Provide(provide_reader),
            "maybe_reader": Provide(provide_optional_reader),
            "view_tally": Provide(provide_views),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=note_use_case,  # queries are timed by route (server/metrics.py)
        middleware=[prometheus.middleware, id_guard],
        cors_config=CORSConfig(allow_origins=list(settings.allowed_origins), allow_credentials=True,
                               allow_headers=["Authorization", "Content-Type", "X-Request-ID",
                                              "If-Match"],
                               expose_headers=["X-Request-ID", "ETag", "Retry-After"]),
        openapi_config=openapi_config(),
        request_max_body_size=settings.max_body_bytes,
        plugins=plugins_for(services),
        logging_config=None,  # ours (server/logs.py) is already in place
        debug=False,
    )
    app.state.services = services
    document_api(app)
    # outermost, so that 404s and other router-level errors also get ids, headers and a log line
    app.asgi_handler = request_context_middleware(app.asgi_handler)
    for wrap in services.asgi_wrappers:  # e.g. the hub takes /ws first
        app.asgi_handler = wrap(app.asgi_handler)
    return app
