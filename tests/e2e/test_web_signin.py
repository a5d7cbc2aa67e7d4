"""Signing in from the browser with an identity provider (the local OpenID provider stand-in)
and with a passkey as the second step (a CDP virtual authenticator), in real Chromium against
the shared pair of real server processes."""

from __future__ import annotations

from typing import Any

from tests.accounts_idp import Provider
from tests.e2e.browser import (
    PASSWORD,
    TIMEOUT,
    Person,
    assert_accessible,
    expect,
    person,
    register,
    tag,
)
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
    await expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
    await page.goto("/app/oidc-callback?code=nope&state=not-a-state")
    await expect(page.get_by_role("heading", name="Sign-in did not finish")).to_be_visible()
    await expect(page.get_by_role("alert")).not_to_be_empty()
    await assert_accessible(olga, "52-provider-sign-in-failed", found)
    await page.get_by_role("link", name="Back to sign in").click()
    await expect(page.get_by_role("button", name="Sign in with Lantern ID")).to_be_visible()
    await olga.context.close()
    assert not found, found


async def test_a_passkey_as_the_second_sign_in_step(servers: list[ServerProcess],
                                                    browser: Any) -> None:
    """A reader adds a passkey in settings (a virtual authenticator in Chromium), makes it her
    second sign-in step, and her next sign-in asks for it after the password and lets her in;
    then she sees it listed and removes it, which turns the step off."""
    t = tag()
    base = servers[0].base_url.replace("127.0.0.1", "localhost")
    context = await browser.new_context(base_url=base, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(TIMEOUT)
    page = await context.new_page()
    page.on("pageerror", lambda e: print(f"[Pia pageerror] {e}"))
    pia = Person("Pia", f"pia{t}", f"pia{t}@example.test", context, page, base)
    found: list[dict[str, Any]] = []
    cdp = await context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    device = (await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}}))["authenticatorId"]
    await register(pia)
    await page.goto("/app/#/settings")
    card = page.locator("#passkeys")
    # turning it on before there is a passkey is explained
    await card.get_by_label("Your password").fill(PASSWORD)
    await card.get_by_role("button", name="Ask for my passkey at sign-in").click()
    await expect(card.get_by_role("alert").last).to_contain_text("Add a passkey first")
    await card.get_by_role("button", name="Add a passkey").click()
    await expect(card.locator("#passkey-status")).to_have_text("Passkey added to your account.")
    await card.get_by_label("Your password").fill(PASSWORD)
    await card.get_by_role("button", name="Ask for my passkey at sign-in").click()
    await expect(card.locator("#passkey-status")).to_contain_text("now asked for")
    await assert_accessible(pia, "53-settings-passkeys", found)
    creds = await cdp.send("WebAuthn.getCredentials", {"authenticatorId": device})
    assert len(creds["credentials"]) == 1  # the passkey lives on the (virtual) device
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
    await page.get_by_label("Email").fill(pia.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()
    await assert_accessible(pia, "54-sign-in-passkey-step", found)
    await page.get_by_role("button", name="Use my passkey").click()
    await expect(page.get_by_role("heading", name="Home")).to_be_visible()
    await expect(page.locator("#me-link")).to_have_text("Pia")
    # her passkey is listed in settings; removing it (password asked) turns the step off
    await page.goto("/app/#/settings")
    await expect(card.locator("#passkey-step-state")).to_contain_text("is asked for")
    await card.get_by_role("button", name="Remove passkey 1").click()
    await expect(card.locator('.field-error[data-for="password"]')).to_have_text(
        "Type your password to remove a passkey.")
    await card.get_by_label("Your password").fill(PASSWORD)
    await card.get_by_role("button", name="Remove passkey 1").click()
    await expect(card.locator("#passkey-status")).to_have_text("Passkey removed.")
    await expect(card.locator("#passkey-list")).to_contain_text("No passkey yet.")
    await expect(card.locator("#passkey-step-state")).to_contain_text("does not ask")
    await context.close()
    assert not found, found
