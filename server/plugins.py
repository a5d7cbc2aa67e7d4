"""Plugins that hang extra parts (the realtime hub, the worker's queue) on an app instance."""

from __future__ import annotations

from typing import Any

from domain.accounts.names import display_names
from domain.reading.events import ReadingEvent
from domain.redisconn import connect
from realtime.names import NameCache
from realtime.plugin import HubPlugin
from realtime.rooms.club import ClubRoom, ClubThreadRoom
from realtime.rooms.club.moves import ClubMoves, ThreadMoves
from realtime.rooms.leaderboard import LeaderboardRoom
from realtime.rooms.session import SessionRoom
from realtime.stage.room import StageRoom
from server.api import reading, reading_boards
from server.state import Services


def plugins_for(services: Services) -> list[Any]:
    """Litestar plugins for this app; each may register startup/shutdown hooks on `services`."""
    plugins: list[Any] = []
    plugins.append(_hub_plugin(services))
    _session_rooms(services)
    _club_rooms(services)
    _start_write_behind(services)
    _stage_rooms(services)
    return plugins


def _session_rooms(services: Services) -> None:
    """Plug the `session:<id>` room kind (co-reading rooms) into the hub at startup."""

    async def register_session_rooms(app: Any, services: Services) -> None:
        assert services.db is not None and services.redis is not None
        assert services.hub is not None
        settings = services.settings
        rooms = services.session_rooms = SessionRoom(
            services.db, services.redis, flush_interval=settings.positions_flush_interval,
            reclaim_after=settings.positions_reclaim_after)
        # session moves credit leaderboards too: their live top-N push is this process's
        rooms.scores_push = reading_boards.push_for(app.state, services.db, services.redis,
                                                    services.settings)
        services.hub.register(rooms)  # its control messages ride the hub's channel
        services.hub.register(LeaderboardRoom(services.db))  # club boards: members only

    async def stop_session_rooms(app: Any, services: Services) -> None:
        if services.session_rooms is not None:  # before the hub and the pools close
            await services.session_rooms.stop()

    services.on_startup.append(register_session_rooms)
    services.on_shutdown.append(stop_session_rooms)


def _club_rooms(services: Services) -> None:
    """Plug the `club:<id>` and `club_thread:<section id>` room kinds into the hub."""

    async def register_club_rooms(app: Any, services: Services) -> None:
        assert services.db is not None and services.redis is not None
        assert services.hub is not None
        db, redis, settings = services.db, services.redis, services.settings

        async def after_move(user_id: int, happened: list[ReadingEvent]) -> None:
            await reading.after_change(app.state, db, redis, settings, user_id, happened)

        # club and thread moves ride the session rooms' live positions and write-behind (its
        # club and club_thread routes)
        sessions = services.session_rooms
        assert sessions is not None
        moves = ClubMoves(db, sessions.live, sessions.behind, after_move)
        services.hub.register(ClubRoom(db, redis, after_move, moves))
        threads = ThreadMoves(db, sessions.live, sessions.behind, after_move)
        services.hub.register(ClubThreadRoom(db, redis, after_move, threads))

    services.on_startup.append(register_club_rooms)


def _start_write_behind(services: Services) -> None:
    """Once every room kind routed its moves: the write-behind loop starts."""

    async def start_write_behind(app: Any, services: Services) -> None:
        assert services.session_rooms is not None and services.hub is not None
        services.session_rooms.start(services.hub)  # moves are written behind from now on

    services.on_startup.append(start_write_behind)


def _stage_rooms(services: Services) -> None:
    """Plug the `stage:<place>` room kind (live audio stages) in, with its watcher that ends
    the stages of a media process that is gone."""
    rooms: list[StageRoom] = []

    async def register_stage_rooms(app: Any, services: Services) -> None:
        assert services.db is not None and services.redis is not None
        assert services.hub is not None and services.settings.redis_url
        # offers wait on a blocking pop: a connection of their own without a socket timeout
        media_redis = connect(services.settings.redis_url, socket_timeout=None)  # (or a cluster)
        room = StageRoom(services.db, services.redis, services.settings, media_redis)
        services.hub.register(room)
        room.start_watcher(services.hub)
        rooms.append(room)

    async def stop_stage_rooms(app: Any, services: Services) -> None:
        for room in rooms:
            await room.stop_watcher()
            await room.media.redis.aclose()

    services.on_startup.append(register_stage_rooms)
    services.on_shutdown.append(stop_stage_rooms)


def _hub_plugin(services: Services) -> HubPlugin:
    """The realtime hub: `/ws`, `/asyncapi.json`; `services.hub` (register room kinds on it)
    exists from now on, `services.publisher` once the app has started."""
    plugin = HubPlugin(services.settings)
    services.hub = plugin.hub
    services.asgi_wrappers.append(plugin.wrap)

    async def start_hub(app: Any, services: Services) -> None:
        assert services.redis is not None and services.settings.redis_url
        if services.db is not None:  # display names in presence, resolved once per socket
            db = services.db
            plugin.hub.name_resolver = NameCache(lambda ids: display_names(db, ids),
                                                 ttl=services.settings.ws_name_cache_ttl)
        await plugin.start(services.redis, services.settings.redis_url)
        services.publisher = plugin.hub.publisher

    async def stop_hub(app: Any, services: Services) -> None:
        await plugin.stop()

    services.on_startup.append(start_hub)
    services.on_shutdown.append(stop_hub)
    return plugin
