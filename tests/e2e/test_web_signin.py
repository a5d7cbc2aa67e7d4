"""Signing in from the browser with an identity provider (the local OpenID provider stand-in),
in real Chromium against the shared pair of real server processes."""

from __future__ import annotations

from typing import Any

from tests.accounts_idp import Provider
from tests.e2e.browser import assert_accessible, expect, person, tag
from tests.support import ServerProcess


async def test_sign_in_with_an_identity_provider(servers: list[ServerProcess], browser: Any,
                                                 idp: Provider) -> None:
    """A new reader clicks "Sign in with Lantern ID", comes back from the provider signed in to
    a new account with their name, and a sign-in the server refuses is explained in words."""
    t = tag()
    olga = await person(browser, servers[0], "Olga", t)
    found: list[dict[str, Any]] = []
    page = olga.page
    idp.user = {"sub": f"olga-{t}", "email": f"olga{t}@corp.test", "email_verified": True,
                "name": f"Olga Provider {t}"}
    await page.goto("/app/")
    button = page.get_by_role("button", name="Sign in with Lantern ID")
    await expect(button).to_be_visible()
    await assert_accessible(olga, "50-sign-in-providers", found)
    await button.click()
    await expect(page.get_by_role("heading", name="Home")).to_be_visible()
    await expect(page.locator("#me-link")).to_have_text(f"Olga Provider {t}")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    assert page.url.endswith("/app/#/"), page.url
    await olga.shot("51-signed-in-with-provider")
    # a reload keeps her signed in; signing out and in again reaches the same account
    await page.reload()
    await expect(page.locator("#me-link")).to_have_text(f"Olga Provider {t}")
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_role("button", name="Sign in with Lantern ID").click()
    await expect(page.locator("#me-link")).to_have_text(f"Olga Provider {t}")
    # a callback the server does not recognise (a stale or forged state)
    await page.get_by_role("button", name="Sign out").click()
    await page.goto("/app/oidc-callback?code=nope&state=not-a-state")
    await expect(page.get_by_role("heading", name="Sign-in did not finish")).to_be_visible()
    await expect(page.get_by_role("alert")).not_to_be_empty()
    await assert_accessible(olga, "52-provider-sign-in-failed", found)
    await page.get_by_role("link", name="Back to sign in").click()
    await expect(page.get_by_role("button", name="Sign in with Lantern ID")).to_be_visible()
    await olga.context.close()
    assert not found, found
