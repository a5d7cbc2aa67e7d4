"""Sign-in with an OpenID Connect provider: authorization code flow with PKCE, state and nonce.

1. `start` makes `state`, `nonce` and a PKCE verifier, keeps them in Redis for 10 minutes
   under the state (with the account to link to, when a signed-in user links a provider), and
   answers the provider's authorization URL.
2. `finish` takes the `code` and `state` the provider sent the browser back with: the state is
   used once (GETDEL), the code is exchanged at the token endpoint (client secret + verifier),
   and the ID token is checked with pyjwt against the provider's JWKS: signature (RS256/ES256
   only), `iss`, `aud`, `exp`, `iat` and our `nonce`.
Several providers can be configured at once (READALONG_OIDC_PROVIDERS names one settings
block each; the older single READALONG_OIDC_ISSUER block is the provider `default`): the
state remembers which provider a sign-in started with, so the callback needs no name.

3. The (issuer, subject) pair names the identity. A linked identity signs its account in. An
   unknown one creates an account, unless an account already uses its email: then nothing
   happens (409 `oidc_link_required`), because a matching email is no proof of owning that
   account; its owner signs in and links the provider (step 1 with the account).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import msgspec
import orjson
from redis.asyncio import Redis

from domain.db import Database
from domain.errors import Conflict, DomainError, Invalid, NotFound, Unauthorized
from domain.keys import OIDC_STATE
from domain.settings import OidcProvider, Settings

STATE_TTL = 600
ALGORITHMS = ["RS256", "ES256"]
_discovery: dict[str, tuple[float, dict[str, Any]]] = {}


class ProviderUnavailable(DomainError):
    status = 502
    code = "oidc_provider_unavailable"


class Started(msgspec.Struct, frozen=True):
    authorization_url: str
    state: str
    provider: str


class ProviderOut(msgspec.Struct, frozen=True):
    """A configured identity provider, as the sign-in page lists it."""

    name: str
    label: str
    issuer: str


class Identity(msgspec.Struct, frozen=True):
    """Who the provider says signed in (from a verified ID token)."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


class Outcome(msgspec.Struct, frozen=True):
    """The account the identity maps to; `created` when this sign-in made it, `linked` when
    it was just linked to the signed-in account."""

    user_id: int
    role: str
    issuer: str = ""
    created: bool = False
    linked: bool = False


def providers(settings: Settings) -> dict[str, OidcProvider]:
    """Every configured provider by name (the single-provider settings are `default`)."""
    found: dict[str, OidcProvider] = {}
    if settings.oidc_issuer and settings.oidc_client_id:
        found["default"] = OidcProvider(
            name="default", issuer=settings.oidc_issuer, client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret, scopes=settings.oidc_scopes,
            label="Identity provider", redirect_uri=settings.oidc_redirect_uri)
    for block in settings.oidc_blocks:
        found[block.name] = block
    return found


def listed(settings: Settings) -> list[ProviderOut]:
    return [ProviderOut(name=p.name, label=p.label or p.name.title(), issuer=p.issuer)
            for p in providers(settings).values()]


def provider(settings: Settings, name: str | None) -> OidcProvider:
    """The named provider, or the only/first one when no name is given; 404 otherwise."""
    known = providers(settings)
    if not known:
        raise NotFound("sign-in with an identity provider is not configured",
                       code="oidc_not_configured")
    if name is None or name == "":
        return next(iter(known.values()))
    if name not in known:
        raise NotFound(f"no identity provider is called {name[:40]!r}",
                       code="oidc_unknown_provider")
    return known[name]


def _redirect_uri(settings: Settings, prov: OidcProvider) -> str:
    return prov.redirect_uri or settings.oidc_redirect_uri or \
        f"{settings.public_url.rstrip('/')}/app/oidc-callback"  # no fragment: RFC 6749 3.1.2


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    try:
        r = await client.get(url)
        r.raise_for_status()
        body = r.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderUnavailable(f"the identity provider did not answer ({url})") from exc
    if not isinstance(body, dict):
        raise ProviderUnavailable("the identity provider answered something unexpected")
    return body


async def discovery(client: httpx.AsyncClient, prov: OidcProvider) -> dict[str, Any]:
    """The provider's discovery document (cached five minutes per process)."""
    cached = _discovery.get(prov.issuer)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    doc = await _get_json(client, prov.issuer.rstrip("/") + "/.well-known/openid-configuration")
    if doc.get("issuer") != prov.issuer:
        raise ProviderUnavailable("the discovery document names another issuer")
    _discovery[prov.issuer] = (time.monotonic() + 300, doc)
    return doc


async def start(redis: Redis, settings: Settings, name: str | None = None,
                link_user_id: int | None = None) -> Started:
    prov = provider(settings, name)
    async with httpx.AsyncClient(timeout=10) as client:
        doc = await discovery(client, prov)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()) \
        .rstrip(b"=").decode()
    await redis.set(OIDC_STATE + state, orjson.dumps(
        {"nonce": nonce, "verifier": verifier, "link": link_user_id, "provider": prov.name}),
        ex=STATE_TTL)
    query = urlencode({"response_type": "code", "client_id": prov.client_id,
                       "redirect_uri": _redirect_uri(settings, prov), "scope": prov.scopes,
                       "state": state, "nonce": nonce, "code_challenge": challenge,
                       "code_challenge_method": "S256"})
    return Started(authorization_url=f"{doc['authorization_endpoint']}?{query}", state=state,
                   provider=prov.name)


def _verify_id_token(prov: OidcProvider, token: str, jwks: dict[str, Any],
                     nonce: str) -> Identity:
    bad = Unauthorized("the identity provider's token is not valid", code="oidc_token_invalid")
    try:
        header = jwt.get_unverified_header(token)
        keys = jwt.PyJWKSet.from_dict(jwks).keys
        matching = [k for k in keys if k.key_id == header.get("kid")] or \
            (keys if header.get("kid") is None else [])
        if header.get("alg") not in ALGORITHMS or not matching:
            raise bad
        claims = jwt.decode(token, matching[0], algorithms=ALGORITHMS,
                            audience=prov.client_id, issuer=prov.issuer,
                            options={"require": ["exp", "iat", "sub", "iss", "aud"]})
    except jwt.PyJWTError as exc:
        raise bad from exc
    if not isinstance(claims.get("nonce"), str) or \
            not secrets.compare_digest(claims["nonce"], nonce):
        raise Unauthorized("the identity provider's token is not for this sign-in",
                           code="oidc_nonce_mismatch")
    email = claims.get("email")
    return Identity(issuer=prov.issuer, subject=str(claims["sub"]),
                    email=email if isinstance(email, str) else None,
                    email_verified=claims.get("email_verified") is True,
                    name=claims.get("name") if isinstance(claims.get("name"), str) else None)


async def identify(redis: Redis, settings: Settings, code: str,
                   state: str) -> tuple[Identity, int | None]:
    """Use the state once, exchange the code, verify the ID token; (identity, link user)."""
    provider(settings, None)  # 404 when none is configured
    if not isinstance(state, str) or not 0 < len(state) <= 200 or not code or len(code) > 2000:
        raise Invalid("this sign-in is unknown or expired; start again", code="oidc_state_invalid",
                      field="state")
    raw = await redis.getdel(OIDC_STATE + state)
    if raw is None:
        raise Invalid("this sign-in is unknown or expired; start again", code="oidc_state_invalid",
                      field="state")
    pending = orjson.loads(raw)
    prov = provider(settings, pending.get("provider"))
    async with httpx.AsyncClient(timeout=10) as client:
        doc = await discovery(client, prov)
        try:
            r = await client.post(doc["token_endpoint"], data={
                "grant_type": "authorization_code", "code": code,
                "redirect_uri": _redirect_uri(settings, prov),
                "code_verifier": pending["verifier"], "client_id": prov.client_id,
                "client_secret": prov.client_secret})
        except httpx.HTTPError as exc:
            raise ProviderUnavailable("the identity provider did not answer") from exc
        if r.status_code != 200:
            raise Unauthorized("the identity provider refused the sign-in",
                               code="oidc_code_refused")
        token = r.json().get("id_token")
        jwks = await _get_json(client, doc["jwks_uri"])
    if not isinstance(token, str):
        raise Unauthorized("the identity provider sent no ID token", code="oidc_token_invalid")
    link = pending.get("link")
    return _verify_id_token(prov, token, jwks, pending["nonce"]), \
        (int(link) if link is not None else None)


async def resolve(db: Database, identity: Identity, link_user_id: int | None,
                  create: Any) -> Outcome:
    """Map the identity to an account (see the module docstring); `create(identity)` makes a
    new account and returns its id."""
    row = await db.pool.fetchrow(
        "SELECT i.user_id, u.role FROM user_identities i JOIN users u ON u.id = i.user_id "
        "WHERE i.issuer = $1 AND i.subject = $2", identity.issuer, identity.subject)
    if link_user_id is not None:
        if row is not None and int(row["user_id"]) != link_user_id:
            raise Conflict("this provider account is linked to another Readalong account",
                           code="oidc_identity_taken")
        await db.pool.execute(
            "INSERT INTO user_identities (user_id, issuer, subject, email) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (issuer, subject) DO NOTHING",
            link_user_id, identity.issuer, identity.subject, identity.email)
        role = await db.pool.fetchval("SELECT role FROM users WHERE id = $1", link_user_id)
        return Outcome(user_id=link_user_id, role=str(role), issuer=identity.issuer,
                       linked=True)
    if row is not None:
        return Outcome(user_id=int(row["user_id"]), role=str(row["role"]),
                       issuer=identity.issuer)
    if identity.email is None or not identity.email_verified:
        raise Unauthorized("the identity provider did not vouch for an email address",
                           code="oidc_email_unverified")
    if await db.pool.fetchval("SELECT 1 FROM users WHERE lower(email) = lower($1)",
                              identity.email):
        raise Conflict("an account already uses this email: sign in to it, then link this "
                       "provider from your settings", code="oidc_link_required")
    user_id = int(await create(identity))
    await db.pool.execute("INSERT INTO user_identities (user_id, issuer, subject, email) "
                          "VALUES ($1, $2, $3, $4)", user_id, identity.issuer,
                          identity.subject, identity.email)
    return Outcome(user_id=user_id, role="reader", issuer=identity.issuer, created=True)
