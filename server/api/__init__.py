"""The REST API: one module per bounded context, each exporting its controllers."""

from __future__ import annotations

from typing import Any


def route_handlers() -> list[Any]:
    """Every REST controller of /api/v1 (add a context's controllers here)."""
    from server.api import (
        accounts,
        accounts_2fa,
        accounts_admin,
        accounts_avatars,
        accounts_oidc,
        accounts_passkeys,
        accounts_recovery,
        accounts_security,
        admin_jobs,
        catalog,
        catchup,
        clubs,
        clubs_discussion,
        clubs_events,
        covers,
        exports,
        feed,
        imports,
        kosync,
        notifications,
        profiles,
        reading,
        recommendations,
        sessions,
    )

    handlers: list[Any] = []
    handlers += accounts.CONTROLLERS + accounts_recovery.CONTROLLERS
    handlers += accounts_2fa.CONTROLLERS + accounts_oidc.CONTROLLERS
    handlers += accounts_admin.CONTROLLERS + accounts_avatars.CONTROLLERS
    handlers += accounts_security.CONTROLLERS + accounts_passkeys.CONTROLLERS
    handlers += profiles.CONTROLLERS
    handlers += catalog.CONTROLLERS + covers.CONTROLLERS
    handlers += sessions.CONTROLLERS
    handlers += reading.CONTROLLERS
    handlers += recommendations.CONTROLLERS + catchup.CONTROLLERS
    handlers += kosync.CONTROLLERS + imports.CONTROLLERS + exports.CONTROLLERS
    handlers += clubs.CONTROLLERS + clubs_discussion.CONTROLLERS + clubs_events.CONTROLLERS
    handlers += notifications.CONTROLLERS + feed.CONTROLLERS + admin_jobs.CONTROLLERS
    return handlers
