"""Devices and the security log on a real server: each sign-in is a device the owner can sign
out alone; sign-ins, failures and password changes are logged for the owner and for admins."""

from __future__ import annotations

from typing import Any

import httpx

from tests.accounts_helpers import PASSWORD, register
from tests.worker_helpers import db_and_redis


async def test_devices_are_listed_and_signed_out_one_by_one(http: httpx.AsyncClient,
                                                            unique: str) -> None:
    """Two sign-ins are two devices with their user agents; signing one out kills only it."""
    ana = await register(http, unique, prefix="dv")
    phone = await http.post("/api/v1/auth/login", headers={"User-Agent": "PhoneReader/1"},
                            json={"email": ana.email, "password": PASSWORD})
    tablet = await http.post("/api/v1/auth/login", headers={"User-Agent": "TabletReader/2"},
                             json={"email": ana.email, "password": PASSWORD})
    auth = {"Authorization": f"Bearer {phone.json()['access_token']}"}
    r = await http.get("/api/v1/me/devices", headers=auth)
    assert r.status_code == 200
    devices = r.json()
    agents = {d["user_agent"] for d in devices}
    assert {"PhoneReader/1", "TabletReader/2"} <= agents and len(devices) == 3
    [current] = [d for d in devices if d["current"]]
    assert current["user_agent"] == "PhoneReader/1"
    [other] = [d for d in devices if d["user_agent"] == "TabletReader/2"]
    r = await http.delete(f"/api/v1/me/devices/{other['id']}", headers=auth)
    assert r.status_code == 204
    dead = await http.post("/api/v1/auth/refresh",
                           json={"refresh_token": tablet.json()["refresh_token"]})
    assert dead.status_code == 401
    alive = await http.post("/api/v1/auth/refresh",
                            json={"refresh_token": phone.json()["refresh_token"]})
    assert alive.status_code == 200
    r = await http.get("/api/v1/me/devices", headers=auth)
    assert "TabletReader/2" not in {d["user_agent"] for d in r.json()}
    r = await http.delete("/api/v1/me/devices/not-mine", headers=auth)
    assert r.status_code == 404 and r.json()["code"] == "device_not_found"


async def test_security_log_shows_sign_ins_failures_and_changes(http: httpx.AsyncClient,
                                                                engines: Any,
                                                                unique: str) -> None:
    """The owner reads their failed sign-in, sign-ins and password change; an admin reads the
    same, a reader cannot read someone else's."""
    bea = await register(http, unique, prefix="sl")
    r = await http.post("/api/v1/auth/login", json={"email": bea.email, "password": "nope" * 3})
    assert r.status_code == 401
    r = await http.post("/api/v1/me/password", headers=bea.headers,
                        json={"current_password": PASSWORD,
                              "new_password": "another long passphrase"})
    assert r.status_code == 200
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    events = (await http.get("/api/v1/me/security-events", headers=headers)).json()
    kinds = [e["kind"] for e in events]
    assert kinds[:2] == ["password_changed", "sign_in_failed"] and "sign_in" in kinds
    boss = await register(http, unique, prefix="slboss")
    denied = await http.get(f"/api/v1/admin/users/{bea.handle}/security", headers=boss.headers)
    assert denied.status_code == 403
    async with db_and_redis(engines) as (db, _redis):
        await db.pool.execute("UPDATE users SET role = 'admin' WHERE id = $1", boss.id)
    r = await http.post("/api/v1/auth/login", json={"email": boss.email, "password": PASSWORD})
    seen = await http.get(f"/api/v1/admin/users/{bea.handle}/security",
                          headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert seen.status_code == 200
    assert [e["kind"] for e in seen.json()["events"]][:2] == kinds[:2]
    assert len(seen.json()["devices"]) >= 1
