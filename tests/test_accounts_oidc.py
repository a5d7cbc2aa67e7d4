"""Sign-in with an OpenID provider: a real local provider (its own keys, discovery and token
endpoint) and a real server; forged tokens, a wrong nonce and an email takeover are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio

from tests.accounts_helpers import register
from tests.accounts_idp import CLIENT_ID, CLIENT_SECRET, Provider, running_provider
from tests.fixture_helpers import running_server
from tests.support import ServerProcess


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with running_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def idp2() -> Iterator[Provider]:
    """A second provider (its own keys and issuer), configured in its own settings block."""
    with running_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def node(engines: Any, idp: Provider, idp2: Provider, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[ServerProcess]:
    env = engines.env(READALONG_OIDC_PROVIDERS="keycloak,google",
                      READALONG_OIDC_KEYCLOAK_ISSUER=idp.issuer,
                      READALONG_OIDC_KEYCLOAK_CLIENT_ID=CLIENT_ID,
                      READALONG_OIDC_KEYCLOAK_CLIENT_SECRET=CLIENT_SECRET,
                      READALONG_OIDC_KEYCLOAK_LABEL="Company Keycloak",
                      READALONG_OIDC_GOOGLE_ISSUER=idp2.issuer,
                      READALONG_OIDC_GOOGLE_CLIENT_ID=CLIENT_ID,
                      READALONG_OIDC_GOOGLE_CLIENT_SECRET=CLIENT_SECRET,
                      READALONG_REGISTER_RATE="100000", READALONG_LOGIN_RATE="100000")
    with running_server(env, tmp_path_factory.mktemp("oidc-logs")) as proc:
        yield proc


@pytest_asyncio.fixture
async def api(node: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=node.base_url, timeout=15) as client:
        yield client


async def _browser(api: httpx.AsyncClient, idp: Provider, user: dict[str, Any],
                   headers: dict[str, str] | None = None,
                   provider: str | None = None) -> dict[str, str]:
    """What a browser does: open the provider's URL, come back with code and state."""
    idp.user = user
    params = {"provider": provider} if provider else {}
    if headers:
        r = await api.post("/api/v1/me/oidc/link", headers=headers, params=params)
    else:
        r = await api.get("/api/v1/auth/oidc/start", params=params)
    assert r.status_code == 200, r.text
    url = r.json()["authorization_url"]
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    async with httpx.AsyncClient() as browser:
        back = await browser.get(url)
    assert back.status_code == 302
    got = parse_qs(urlsplit(back.headers["Location"]).query)
    return {"code": got["code"][0], "state": got["state"][0]}


async def _callback(api: httpx.AsyncClient, body: dict[str, str]) -> httpx.Response:
    return await api.post("/api/v1/auth/oidc/callback", json=body)


async def test_provider_sign_in_creates_then_signs_in_the_same_account(
        api: httpx.AsyncClient, idp: Provider, unique: str) -> None:
    """A new provider identity gets a verified account; signing in again reaches it; the state
    works once; the provider cannot be unlinked from an account with no password."""
    who = {"sub": f"sub-{unique}", "email": f"oidc{unique}@corp.test", "email_verified": True,
           "name": "Olga Idp"}
    body = await _browser(api, idp, who)
    r = await _callback(api, body)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["created"] is True
    me = await api.get("/api/v1/me/email",
                       headers={"Authorization": f"Bearer {first['access_token']}"})
    assert me.json() == {"email": who["email"], "verified": True, "pending_email": None}
    again = await _callback(api, body)
    assert again.status_code == 422 and again.json()["code"] == "oidc_state_invalid"
    r = await _callback(api, await _browser(api, idp, who))
    assert r.status_code == 200 and r.json()["user_id"] == first["user_id"]
    assert r.json()["created"] is False
    only = await api.delete("/api/v1/me/oidc/link",
                            headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert only.status_code == 409 and only.json()["code"] == "last_sign_in_method"


async def test_forged_token_and_wrong_nonce_are_refused(api: httpx.AsyncClient, idp: Provider,
                                                        unique: str) -> None:
    """An ID token signed by another key, or carrying another nonce, signs nobody in."""
    who = {"sub": f"f-{unique}", "email": f"forge{unique}@corp.test", "email_verified": True}
    idp.forge = True
    try:
        r = await _callback(api, await _browser(api, idp, who))
    finally:
        idp.forge = False
    assert r.status_code == 401 and r.json()["code"] == "oidc_token_invalid"
    idp.nonce_override = "not-the-nonce"
    try:
        r = await _callback(api, await _browser(api, idp, who))
    finally:
        idp.nonce_override = None
    assert r.status_code == 401 and r.json()["code"] == "oidc_nonce_mismatch"
    body = await _browser(api, idp, who)
    r = await _callback(api, {"code": "made-up", "state": body["state"]})
    assert r.status_code == 401 and r.json()["code"] == "oidc_code_refused"


async def test_matching_email_does_not_take_over_an_account(api: httpx.AsyncClient,
                                                            idp: Provider, unique: str) -> None:
    """A provider identity with someone's email is refused until that someone, signed in,
    links it; afterwards it signs in to their account, until they unlink it."""
    owner = await register(api, unique, prefix="own")
    who = {"sub": f"evil-{unique}", "email": owner.email, "email_verified": True}
    r = await _callback(api, await _browser(api, idp, who))
    assert r.status_code == 409 and r.json()["code"] == "oidc_link_required"
    linked = await _callback(api, await _browser(api, idp, who, headers=owner.headers))
    assert linked.status_code == 200 and linked.json()["linked"] is True
    r = await _callback(api, await _browser(api, idp, who))
    assert r.status_code == 200 and r.json()["user_id"] == owner.id
    off = await api.delete("/api/v1/me/oidc/link", headers=owner.headers)
    assert off.status_code == 204  # the owner still has a password
    r = await _callback(api, await _browser(api, idp, who))
    assert r.status_code == 409 and r.json()["code"] == "oidc_link_required"
    unverified = {"sub": f"u-{unique}", "email": f"x{unique}@corp.test",
                  "email_verified": False}
    r = await _callback(api, await _browser(api, idp, unverified))
    assert r.status_code == 401 and r.json()["code"] == "oidc_email_unverified"


async def test_two_providers_each_with_its_own_settings_block(
        api: httpx.AsyncClient, idp: Provider, idp2: Provider, unique: str) -> None:
    """Both configured providers are listed; one person signs in with the first, links the
    second, then reaches the same account through either; the same subject at the other
    provider is another identity, and unlinking one provider keeps the other working."""
    listed = (await api.get("/api/v1/auth/oidc/providers")).json()
    assert [(p["name"], p["label"]) for p in listed] == [("keycloak", "Company Keycloak"),
                                                         ("google", "Google")]
    assert [p["issuer"] for p in listed] == [idp.issuer, idp2.issuer]
    who = {"sub": f"two-{unique}", "email": f"two{unique}@corp.test", "email_verified": True}
    r = await _callback(api, await _browser(api, idp, who, provider="keycloak"))
    assert r.status_code == 200 and r.json()["created"] is True, r.text
    first = r.json()
    auth = {"Authorization": f"Bearer {first['access_token']}"}
    # google vouches for the same subject string and email: not proof of the keycloak account
    r = await _callback(api, await _browser(api, idp2, who, provider="google"))
    assert r.status_code == 409 and r.json()["code"] == "oidc_link_required"
    linked = await _callback(api, await _browser(api, idp2, who, headers=auth,
                                                 provider="google"))
    assert linked.status_code == 200 and linked.json()["linked"] is True
    links = await api.get("/api/v1/me/oidc/links", headers=auth)
    assert links.json() == {"providers": ["keycloak", "google"]}
    r = await _callback(api, await _browser(api, idp2, who, provider="google"))
    assert r.status_code == 200 and r.json()["user_id"] == first["user_id"]
    # a token signed with the keycloak provider's key is no good from the google provider
    idp2.sign_with = idp.key
    try:
        r = await _callback(api, await _browser(api, idp2, who, provider="google"))
    finally:
        idp2.sign_with = None
    assert r.status_code == 401 and r.json()["code"] == "oidc_token_invalid"
    off = await api.delete("/api/v1/me/oidc/link", headers=auth, params={"provider": "google"})
    assert off.status_code == 204
    r = await _callback(api, await _browser(api, idp, who, provider="keycloak"))
    assert r.status_code == 200 and r.json()["user_id"] == first["user_id"]
    last = await api.delete("/api/v1/me/oidc/link", headers=auth,
                            params={"provider": "keycloak"})
    assert last.status_code == 409 and last.json()["code"] == "last_sign_in_method"
    unknown = await api.get("/api/v1/auth/oidc/start", params={"provider": "nope"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "oidc_unknown_provider"
