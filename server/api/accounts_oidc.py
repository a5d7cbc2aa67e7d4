"""REST controllers of sign-in with an OpenID Connect provider, and linking one."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts import audit, federated, limits, oidc, twostep
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.settings import Settings
from server.api.accounts import TokensOut, client_address, client_of, tokens_out
from server.openapi import Problem
from server.problems import PROBLEM_JSON

PROVIDER_ERRORS = {
    404: ResponseSpec(data_container=Problem, media_type=PROBLEM_JSON, generate_examples=False,
                      description="No identity provider is configured (`oidc_not_configured`) "
                                  "or none has this name (`oidc_unknown_provider`)"),
    502: ResponseSpec(data_container=Problem, media_type=PROBLEM_JSON, generate_examples=False,
                      description="The identity provider did not answer "
                                  "(`oidc_provider_unavailable`)"),
}


class CallbackIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    state: str


class OidcTokensOut(TokensOut):
    """The token pair, and whether this sign-in created or linked the account."""

    created: bool = False
    linked: bool = False


ProviderName = Annotated[str | None, Parameter(
    query="provider", required=False, max_length=40,
    description="The provider's name (GET /api/v1/auth/oidc/providers); default the first")]


class LinkedOut(msgspec.Struct):
    providers: list[str]


class OidcController(Controller):
    path = "/api/v1/auth/oidc"
    tags = ["accounts"]

    @get("/providers", summary="The identity providers one can sign in with (may be none)")
    async def providers(self, settings: Settings) -> list[oidc.ProviderOut]:
        return oidc.listed(settings)

    @get("/start", summary="Start signing in with an identity provider (its URL to open)",
         responses=PROVIDER_ERRORS)
    async def start(self, request: Request[Any, Any, Any], redis: Redis, settings: Settings,
                    provider: ProviderName = None) -> oidc.Started:
        await limits.check_login(redis, settings, client_address(request), "oidc-start")
        return await oidc.start(redis, settings, provider)

    @post("/callback", status_code=200, responses=PROVIDER_ERRORS,
          summary="Finish the provider sign-in with the code and state it sent back")
    async def callback(self, request: Request[Any, Any, Any], data: CallbackIn, db: Database,
                       redis: Redis, settings: Settings) -> OidcTokensOut | twostep.Challenge:
        await limits.check_login(redis, settings, client_address(request), "oidc")
        outcome, session = await federated.sign_in(db, redis, settings, code=data.code,
                                                   state=data.state)
        if isinstance(session, twostep.Challenge):
            return session
        if outcome.linked:
            await audit.record(db, outcome.user_id, "provider_linked", client_of(request),
                               issuer=outcome.issuer)
        await audit.signed_in(db, session.user_id, session.family, client_of(request),
                              "provider")
        pair = tokens_out(session, settings)
        return OidcTokensOut(**{f: getattr(pair, f) for f in TokensOut.__struct_fields__},
                             created=outcome.created, linked=outcome.linked)


class OidcLinkController(Controller):
    path = "/api/v1/me/oidc"
    tags = ["accounts"]

    @get("/links", summary="The identity providers linked to the signed-in account")
    async def links(self, db: Database, settings: Settings, user: Principal) -> LinkedOut:
        return LinkedOut(providers=await federated.linked(db, settings, user.user_id))

    @post("/link", status_code=200, responses=PROVIDER_ERRORS,
          summary="Start linking an identity provider to the signed-in account")
    async def link(self, redis: Redis, settings: Settings, user: Principal,
                   provider: ProviderName = None) -> oidc.Started:
        return await federated.start_link(redis, settings, user, provider)

    @delete("/link", summary="Unlink an identity provider (another way to sign in must remain)")
    async def unlink(self, request: Request[Any, Any, Any], db: Database, settings: Settings,
                     user: Principal, provider: ProviderName = None) -> None:
        issuer = await federated.unlink(db, settings, user, provider)
        await audit.record(db, user.user_id, "provider_unlinked", client_of(request),
                           issuer=issuer)


CONTROLLERS = [OidcController, OidcLinkController]
