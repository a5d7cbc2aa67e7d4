"""The Litestar plugin that mounts the hub: `/ws`, `/asyncapi.json`, startup and shutdown.

The hub's state lives on this plugin's `Hub`, created with the app (so other contexts can
`hub.register(MyRoom(...))` at any time) and started/stopped with the app's lifespan.
For speed, `wrap()` gives an outermost ASGI wrapper that hands WebSocket scopes on `/ws`
straight to the endpoint (no router, no middleware wrapping `send`), so the hub can write
pre-framed bytes to uvicorn's transport; the Litestar route stays as a fallback.
"""

from __future__ import annotations

from typing import Any

from litestar import asgi, get
from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.asyncio import Redis

from domain.settings import Settings
from realtime.asyncapi import asyncapi_document
from realtime.endpoint import Endpoint
from realtime.node import Hub
from realtime.rooms.leaderboard import LeaderboardRoom
from realtime.rooms.lobby import LobbyRoom
from realtime.rooms.user import UserRoom

WS_PATH = "/ws"


class HubPlugin(InitPluginProtocol):
    """Owns one Hub and its endpoint for one app instance."""

    def __init__(self, settings: Settings) -> None:
        self.hub = Hub(settings)
        for kind in (UserRoom(), LobbyRoom(), LeaderboardRoom()):
            self.hub.register(kind)
        self.endpoint = Endpoint(self.hub)
        self._asyncapi: dict[str, Any] | None = None

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        endpoint = self.endpoint

        @asgi(WS_PATH, is_mount=False, include_in_schema=False)
        async def ws_route(scope: Scope, receive: Receive, send: Send) -> None:
            await endpoint(scope, receive, send)

        @get("/asyncapi.json", include_in_schema=False, summary="AsyncAPI 3 document of /ws")
        async def asyncapi_json() -> dict[str, Any]:
            if self._asyncapi is None:
                room_events = {prefix: kind.events for prefix, kind in self.hub.kinds.items()
                               if kind.events is not None}
                room_commands = {prefix: kind.commands
                                 for prefix, kind in self.hub.kinds.items()
                                 if kind.commands is not None}
                self._asyncapi = asyncapi_document(self.hub.settings.public_url.replace(
                    "http", "ws", 1), room_events, room_commands)
            return self._asyncapi

        app_config.route_handlers.extend([ws_route, asyncapi_json])
        return app_config

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """Outermost ASGI wrapper: `/ws` WebSocket scopes go straight to the hub."""
        endpoint = self.endpoint

        async def hub_first(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "websocket" and scope["path"] == WS_PATH:
                await endpoint(scope, receive, send)
            else:
                await app(scope, receive, send)

        return hub_first

    async def start(self, redis: Redis, redis_url: str) -> None:
        await self.hub.start(redis, redis_url)

    async def stop(self) -> None:
        await self.hub.stop()
