"""Web Push: subscriptions stored over REST, payloads a local push endpoint can decrypt (RFC 8291,
VAPID-signed), and expired subscriptions (410) removed."""

from __future__ import annotations

from typing import Any

import httpx

from domain.notifications.service import notify
from domain.notifications.webpush import load_vapid_key, public_key_b64
from tests.accounts_helpers import register
from tests.worker_helpers import (
    PushEndpoint,
    db_and_redis,
    run_worker,
    start_push_endpoint,
    vapid_claims,
    worker_settings,
)


async def _subscribe(http: httpx.AsyncClient, user: Any, endpoint: PushEndpoint) -> int:
    r = await http.post("/api/v1/push/subscriptions", headers=user.headers,
                        json=endpoint.subscription)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_push_payload_decrypts_at_the_subscribed_endpoint(http: httpx.AsyncClient,
                                                                engines: Any,
                                                                unique: str) -> None:
    """A closed client's push service receives an aes128gcm payload that the browser's keys
    decrypt, with a VAPID JWT signed by the server's key for that service's origin."""
    ana = await register(http, unique, prefix="ana", display_name="Ana")
    bea = await register(http, unique, prefix="bea")
    endpoint = PushEndpoint()
    httpd = start_push_endpoint(endpoint)
    try:
        await _subscribe(http, bea, endpoint)
        settings = worker_settings(engines)
        async with db_and_redis(engines) as (db, redis):
            nid = await notify(db, redis, recipient_id=bea.id, type="mention", actor_id=ana.id,
                               target_kind="room", target_id="lobby:x",
                               payload={"where": "the lobby"})
        await run_worker(settings)
        [payload] = endpoint.received
        assert payload["id"] == nid and payload["body"] == "Ana mentioned you in the lobby"
        assert payload["unread_count"] == 1
        headers = endpoint.headers[0]
        assert headers["Content-Encoding"] == "aes128gcm" and int(headers["TTL"]) > 0
        claims = vapid_claims(headers["Authorization"],
                              public_key_b64(load_vapid_key(settings)))
        assert claims["aud"] == f"http://127.0.0.1:{endpoint.port}"
        assert claims["sub"].startswith("mailto:")
        # the same job again sends nothing more
        async with db_and_redis(engines) as (db, redis):
            from domain.jobqueue import enqueue

            await enqueue(redis, "send_notification_push", nid, job_id=f"push-again:{nid}")
        await run_worker(settings)
        assert len(endpoint.received) == 1
    finally:
        httpd.shutdown()


async def test_gone_subscription_is_removed(http: httpx.AsyncClient, engines: Any,
                                            unique: str) -> None:
    """When the push service answers 410 Gone, the subscription is deleted."""
    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    gone, alive = PushEndpoint(status=410), PushEndpoint()
    servers = [start_push_endpoint(gone), start_push_endpoint(alive)]
    try:
        await _subscribe(http, bea, gone)
        kept = await _subscribe(http, bea, alive)
        async with db_and_redis(engines) as (db, redis):
            await notify(db, redis, recipient_id=bea.id, type="mention", actor_id=ana.id,
                         target_kind="room", target_id="lobby:y")
        await run_worker(worker_settings(engines))
        assert len(gone.headers) == 1 and len(alive.received) == 1
        r = await http.get("/api/v1/push/subscriptions", headers=bea.headers)
        assert [s["id"] for s in r.json()] == [kept]
    finally:
        for s in servers:
            s.shutdown()


async def test_bad_subscriptions_are_refused(http: httpx.AsyncClient, unique: str) -> None:
    """Malformed endpoints or keys get a clear 4xx and nothing is stored."""
    bea = await register(http, unique, prefix="bea")
    good = PushEndpoint().subscription
    bad = [
        {**good, "endpoint": "ftp://push.example/x"},
        {**good, "keys": {"p256dh": "bm90LWEta2V5", "auth": good["keys"]["auth"]}},
        {**good, "keys": {"p256dh": good["keys"]["p256dh"], "auth": "c2hvcnQ"}},
        {"endpoint": good["endpoint"]},
    ]
    for body in bad:
        r = await http.post("/api/v1/push/subscriptions", headers=bea.headers, json=body)
        assert r.status_code in (400, 422), (body, r.text)
    r = await http.get("/api/v1/push/subscriptions", headers=bea.headers)
    assert r.json() == []
    r = await http.get("/api/v1/push/vapid-key")
    assert r.status_code == 200 and len(r.json()["public_key"]) == 87


async def test_no_push_while_a_client_is_open(http: httpx.AsyncClient, engines: Any,
                                              server: Any, unique: str) -> None:
    """A reader with an open socket sees the notification live and gets no push; once every
    client is closed, the next one is pushed."""
    from realtime.publisher import channel_of
    from tests.hub_support import Client
    from tests.support import eventually

    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    endpoint = PushEndpoint()
    httpd = start_push_endpoint(endpoint)
    try:
        await _subscribe(http, bea, endpoint)
        live = await Client.login(server.ws_url, bea.id, origin=None)
        await live.ok("subscribe", room=f"user:{bea.id}")
        async with db_and_redis(engines) as (db, redis):
            first = await notify(db, redis, recipient_id=bea.id, type="mention", actor_id=ana.id,
                                 target_kind="room", target_id="lobby:a")
            await run_worker(worker_settings(engines))
            event = await live.expect(lambda f: f["type"] == "event"
                                      and f["event"] == "notification")
            assert event["data"]["notification"]["id"] == first
            assert endpoint.headers == []
            assert await db.pool.fetchval("SELECT push_state FROM notifications WHERE id = $1",
                                          first) == "skipped"
            await live.close()

            async def nobody_listening() -> bool:
                [(_, n)] = await redis.pubsub_numsub(channel_of(f"user:{bea.id}"))
                return int(n) == 0

            await eventually(nobody_listening)
            second = await notify(db, redis, recipient_id=bea.id, type="mention",
                                  actor_id=ana.id, target_kind="room", target_id="lobby:b")
            await run_worker(worker_settings(engines))
        assert [p["id"] for p in endpoint.received] == [second]
    finally:
        httpd.shutdown()


async def test_push_service_failing_twice_then_accepting_delivers_once(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """A push service answering 503 twice gets the message on the third try, exactly once."""
    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    endpoint = PushEndpoint(fail_first=2)
    httpd = start_push_endpoint(endpoint)
    try:
        await _subscribe(http, bea, endpoint)
        async with db_and_redis(engines) as (db, redis):
            nid = await notify(db, redis, recipient_id=bea.id, type="mention", actor_id=ana.id,
                               target_kind="room", target_id="lobby:c")
            worker = await run_worker(worker_settings(engines))
            assert len(endpoint.headers) == 3 and worker.jobs_retried >= 2
            assert [p["id"] for p in endpoint.received] == [nid]
            assert await db.pool.fetchval("SELECT push_state FROM notifications WHERE id = $1",
                                          nid) == "sent"
    finally:
        httpd.shutdown()


async def test_quiet_hours_defer_push_until_they_end(http: httpx.AsyncClient, engines: Any,
                                                     unique: str) -> None:
    """A push that falls in the reader's quiet hours waits and is sent when they end."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from domain.jobqueue import enqueue

    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    zone = "America/Sao_Paulo"
    local = datetime.now(UTC).astimezone(ZoneInfo(zone))
    r = await http.put("/api/v1/notifications/preferences", headers=bea.headers, json={
        "timezone": zone, "quiet_start": (local - timedelta(hours=1)).strftime("%H:%M"),
        "quiet_end": (local + timedelta(hours=1)).strftime("%H:%M"),
        "types": {"mention": {"email": False}}})
    assert r.status_code == 200, r.text
    endpoint = PushEndpoint()
    httpd = start_push_endpoint(endpoint)
    try:
        await _subscribe(http, bea, endpoint)
        async with db_and_redis(engines) as (db, redis):
            nid = await notify(db, redis, recipient_id=bea.id, type="mention", actor_id=ana.id,
                               target_kind="room", target_id="lobby:q")
            await run_worker(worker_settings(engines))
            assert endpoint.headers == []
            due = await db.pool.fetchval("SELECT push_due_at FROM notifications WHERE id = $1",
                                         nid)
            assert due is not None and due > datetime.now(UTC)
            await enqueue(redis, "due_sweep", (due + timedelta(minutes=1)).isoformat(),
                          job_id=f"test-push-sweep-{nid}")
            await run_worker(worker_settings(engines))
        assert [p["id"] for p in endpoint.received] == [nid]
    finally:
        httpd.shutdown()
