"""Test helpers for anything that needs users: register one over REST and get its tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "correct horse battery staple"


@dataclass
class UserSession:
    """A registered user: ids, credentials and the current token pair."""

    id: int
    handle: str
    email: str
    password: str
    access_token: str
    refresh_token: str
    role: str = "reader"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def update(self, tokens: dict[str, Any]) -> None:
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]
        self.role = tokens["role"]


async def register(http: httpx.AsyncClient, unique: str, *, prefix: str = "u",
                   password: str = PASSWORD, display_name: str | None = None,
                   headers: dict[str, str] | None = None) -> UserSession:
    """Register `<prefix><unique>` (email `<prefix><unique>@example.test`) and return it."""
    handle = f"{prefix}{unique}"[:30]
    email = f"{handle}@example.test"
    r = await http.post("/api/v1/auth/register", json={
        "email": email, "handle": handle, "display_name": display_name or f"User {handle}",
        "password": password}, headers=headers)
    assert r.status_code == 201, r.text
    body = r.json()
    return UserSession(id=body["user_id"], handle=handle, email=email, password=password,
                    access_token=body["access_token"], refresh_token=body["refresh_token"],
                    role=body["role"])


async def login(http: httpx.AsyncClient, user: UserSession) -> dict[str, Any]:
    r = await http.post("/api/v1/auth/login", json={"email": user.email,
                                                     "password": user.password})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]
