"""REST controllers of notifications: the inbox, read state, preferences, push, unsubscribe."""

from __future__ import annotations

import html

import msgspec
from litestar import Controller, MediaType, Response, delete, get, post, put
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import DomainError
from domain.ids import Id
from domain.notifications import prefs, service, subscriptions
from domain.notifications.tokens import ALL, read_unsubscribe_token
from domain.notifications.types import NotificationType, all_types
from domain.notifications.webpush import load_vapid_key, public_key_b64
from domain.settings import Settings


class MarkAllIn(msgspec.Struct, forbid_unknown_fields=True):
    """Mark everything up to `up_to_id` (inclusive) read; all when omitted."""

    up_to_id: Id | None = None


class VapidKeyOut(msgspec.Struct, frozen=True):
    public_key: str


class UnsubscribedOut(msgspec.Struct, frozen=True):
    user_id: int
    type: str
    email: bool = False


class NotificationsController(Controller):
    path = "/api/v1/notifications"
    tags = ["notifications"]

    @get("", summary="The caller's notifications, newest first (cursor-paged)")
    async def inbox(self, db: Database, user: Principal, cursor: str | None = None,
                   limit: int = Parameter(default=20),
                   unread: bool = Parameter(default=False)) -> service.NotificationPage:
        return await service.list_notifications(db, user.user_id, cursor=cursor, limit=limit,
                                                unread_only=unread)

    @get("/unread-count", summary="How many notifications are unread")
    async def unread_count(self, db: Database, user: Principal) -> service.UnreadCount:
        return service.UnreadCount(unread_count=await service.unread_count(db, user.user_id))

    @post("/{notification_id:int}/read", status_code=200, summary="Mark one notification read")
    async def mark_read(self, db: Database, redis: Redis, user: Principal,
                        notification_id: int) -> service.UnreadCount:
        return await service.mark_read(db, user.user_id, notification_id, redis)

    @post("/read-all", status_code=200, summary="Mark all (or all up to an id) read")
    async def mark_all_read(self, db: Database, redis: Redis, user: Principal,
                            data: MarkAllIn | None = None) -> service.UnreadCount:
        return await service.mark_all_read(db, user.user_id, data.up_to_id if data else None,
                                           redis)

    @post("/seen", status_code=200, summary="Mark everything seen (the list was opened)")
    async def mark_seen(self, db: Database, user: Principal) -> service.UnreadCount:
        return await service.mark_all_seen(db, user.user_id)

    @delete("/{notification_id:int}", summary="Delete one notification")
    async def delete(self, db: Database, redis: Redis, user: Principal,
                     notification_id: int) -> None:
        await service.delete_notification(db, user.user_id, notification_id, redis)

    @get("/types", summary="Every notification type and its default channels")
    async def types(self) -> list[NotificationType]:
        return all_types()

    @get("/preferences", summary="The caller's notification preferences")
    async def get_preferences(self, db: Database, user: Principal) -> prefs.Preferences:
        return await prefs.get_preferences(db, user.user_id)

    @put("/preferences", summary="Change preferences (any subset of fields)")
    async def put_preferences(self, db: Database, user: Principal,
                              data: prefs.PreferencesUpdate) -> prefs.Preferences:
        return await prefs.update_preferences(db, user.user_id, data)

    @get("/unsubscribe", summary="Unsubscribe link from an email (no login; signed token)",
         media_type=MediaType.HTML)
    async def unsubscribe_page(self, db: Database, settings: Settings,
                               token: str = "") -> Response[str]:
        # a missing token is answered like a bad one: with a page, not problem details
        try:
            done = await _unsubscribe(db, settings, token)
        except DomainError as exc:
            return Response(f"<!doctype html><p>{html.escape(exc.detail)}.</p>",
                            status_code=exc.status,
                            media_type=MediaType.HTML)
        what = "any email" if done.type == ALL else \
            f"“{html.escape(done.type.replace('_', ' '))}” emails"
        return Response(f"<!doctype html><title>Unsubscribed</title><p>Done: you will not get "
                        f"{what} from Readalong any more. You can change this in your "
                        f"notification settings.</p>", media_type=MediaType.HTML)

    @post("/unsubscribe", status_code=200,
          summary="One-click unsubscribe (RFC 8058; no login; signed token)")
    async def unsubscribe_post(self, db: Database, settings: Settings,
                               token: str) -> UnsubscribedOut:
        return await _unsubscribe(db, settings, token)


async def _unsubscribe(db: Database, settings: Settings, token: str) -> UnsubscribedOut:
    user_id, type_name = read_unsubscribe_token(settings.secret_key, token)
    await prefs.set_channel(db, user_id, None if type_name == ALL else type_name, "email", False)
    return UnsubscribedOut(user_id=user_id, type=type_name)


class PushController(Controller):
    path = "/api/v1/push"
    tags = ["notifications"]

    @get("/vapid-key", summary="The server's VAPID public key (applicationServerKey)")
    async def vapid_key(self, settings: Settings) -> VapidKeyOut:
        return VapidKeyOut(public_key=public_key_b64(load_vapid_key(settings)))

    @post("/subscriptions", summary="Save this browser's push subscription")
    async def subscribe(self, db: Database, user: Principal, settings: Settings,
                        data: subscriptions.PushSubscriptionIn
                        ) -> subscriptions.PushSubscriptionOut:
        return await subscriptions.subscribe(db, user.user_id, data,
                                             allow_http=settings.is_development)

    @get("/subscriptions", summary="The caller's push subscriptions")
    async def list_subscriptions(self, db: Database, user: Principal
                                 ) -> list[subscriptions.PushSubscriptionOut]:
        return await subscriptions.list_subscriptions(db, user.user_id)

    @delete("/subscriptions/{subscription_id:int}", summary="Remove a push subscription")
    async def unsubscribe(self, db: Database, user: Principal, subscription_id: int) -> None:
        await subscriptions.unsubscribe(db, user.user_id, subscription_id)


CONTROLLERS = [NotificationsController, PushController]
