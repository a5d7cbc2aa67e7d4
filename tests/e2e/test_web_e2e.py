"""The browser client in real Chromium: three readers against two real server processes."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from typing import Any

import httpx
import pytest

from tests.e2e.browser import (
    FIGURES,
    PASSWORD,
    REASON,
    Person,
    assert_accessible,
    expect,
    person,
    register,
    start_session,
    tag,
)
from tests.support import ServerProcess, free_port


def test_the_browser_is_there_in_ci() -> None:
    """CI installs Chromium (.ci/run), so there the browser tests run instead of skipping."""
    assert REASON is None, REASON


async def test_sign_in_errors_search_and_book_page(servers: list[ServerProcess], browser: Any,
                                                   book: dict[str, Any]) -> None:
    """A newcomer sees registration errors next to their fields, asks for a password reset (a
    bad reset link is explained), searches with type-ahead and filters, meets "no results", and
    opens a book page with its chapters."""
    ana = await person(browser, servers[0], "Ana", tag())
    violations: list[dict[str, Any]] = []
    page = ana.page
    await page.goto("/app/")
    await assert_accessible(ana, "01-sign-in", violations)
    await page.get_by_role("tab", name="Register").click()
    await page.get_by_label("Email").fill("not-an-email")
    await page.get_by_label("Handle").fill("x")
    await page.get_by_label("Display name").fill("Ana")
    await page.get_by_label("Password").fill("short")
    await page.get_by_role("button", name="Create account").click()
    first_error = page.locator(".field-error").filter(has_text=re.compile(r"\w"))
    await expect(first_error.first).to_be_visible()
    await ana.shot("02-register-errors")
    # the error sits under the field it names
    errors = {await el.get_attribute("data-for"): await el.inner_text()
              for el in await page.locator(".field-error").all() if (await el.inner_text()).strip()}
    assert errors and set(errors) <= {"email", "handle", "display_name", "password"}, errors
    await register(ana)
    await assert_accessible(ana, "03-home", violations)
    # sign out, a wrong password is shown under the password field, then sign in
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
    # forgot password: the same answer for any address; a bad reset link says so
    await page.get_by_role("link", name="Forgot your password?").click()
    await page.get_by_label("Email").fill(ana.email)
    await page.get_by_role("button", name="Send me a link").click()
    await expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    await assert_accessible(ana, "03-forgot-password", violations)
    await page.goto("/app/#/reset-password?token=not-a-real-token")
    await page.get_by_label("New password", exact=True).fill("another long passphrase")
    await page.get_by_role("button", name="Set the password").click()
    await expect(page.locator(".form-error")).to_contain_text("This link is not valid any more")
    await page.get_by_role("link", name="Back to sign in").click()
    await expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
    await page.get_by_label("Email").fill(ana.email)
    await page.get_by_label("Password").fill("not the password at all")
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.locator('.field-error[data-for="password"]')).not_to_be_empty()
    await ana.shot("03-sign-in-error")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("heading", name="Home")).to_be_visible()
    await page.get_by_role("button", name="Dark theme").click()
    await expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    await assert_accessible(ana, "03-home-dark", violations)
    await page.get_by_role("button", name="Dark theme").click()

    await page.get_by_role("link", name="Books").click()
    box = page.get_by_label("Search the catalog")
    words = book["title"].split()
    await box.press_sequentially(f"{words[1][:5]} {words[-1]}", delay=30)
    hit = page.locator("#results").get_by_role("link", name=book["title"])
    await expect(hit).to_be_visible()
    await page.get_by_label("Lighthouses").check()
    await expect(page.locator('[aria-busy="false"]')).to_have_count(1)
    await expect(hit).to_be_visible()
    await assert_accessible(ana, "04-search", violations)
    await box.fill("zzqxjv nothing matches this")
    await expect(page.get_by_text("No books match")).to_be_visible()
    await assert_accessible(ana, "05-no-results", violations)

    await box.fill(book["title"])
    await hit.click()
    await expect(page.get_by_role("heading", name=book["title"])).to_be_visible()
    await expect(page.locator(".toc li")).to_have_count(8)
    await page.get_by_label("My shelf").select_option("want_to_read")
    await expect(page.get_by_text("Saved: Want to read")).to_be_visible()
    await assert_accessible(ana, "06-book", violations)
    await ana.context.close()
    assert not violations, violations


async def chapter(p: Person, n: int) -> None:
    """Move to chapter `n` from the room's chapter list."""
    name = re.compile(rf"^Chapter {n}\b")
    await p.page.locator(".chapters").get_by_role("button", name=name).click()


def items(p: Person, kind: str, text: str | None = None) -> Any:
    """The room's timeline rows of one kind (chat, reaction, annotation)."""
    rows = p.page.locator(f'#timeline [data-kind="{kind}"]')
    return rows.filter(has_text=text) if text else rows


async def room_of(p: Person, session_id: int) -> None:
    await p.page.goto(f"/app/#/session/{session_id}")
    await expect(p.page.locator("#presence li[data-user]").first).to_be_visible()


async def test_reading_together(servers: list[ServerProcess], browser: Any, book: dict[str, Any],
                                worker: Any) -> None:
    """Three readers on two servers: a session started from the book page, moves by chapter,
    chat and reactions, a note, a spoiler hidden then unlocked, the place kept on reload, a message
    typed offline delivered once, a live notification, and the host ending the session."""
    t = tag()
    ana = await person(browser, servers[0], "Ana", t)
    ben = await person(browser, servers[1], "Ben", t)
    cy = await person(browser, servers[1], "Cy", t, phone=True)
    violations: list[dict[str, Any]] = []
    for p in (ana, ben, cy):
        await register(p)

    # Ana opens the book and starts a session
    await ana.page.goto(f"/app/#/book/{book['id']}")
    await ana.page.get_by_label("Session title").fill(f"Storm night {t}")
    await ana.page.get_by_role("button", name="Start reading together").click()
    await expect(ana.page.get_by_role("heading", name=f"Storm night {t}")).to_be_visible()
    session_id = int(ana.page.url.rsplit("/", 1)[1])

    # Ben finds it live on his home page (other server) and joins
    await ben.page.goto("/app/#/")
    await ben.page.get_by_role("link", name=f"Join Storm night {t}").click()
    await expect(ben.page.locator("#presence")).to_contain_text("Ana")
    await expect(ana.page.locator("#presence")).to_contain_text("Ben")

    # Ana moves to chapter 5 and Ben sees where she is; she writes about it
    await chapter(ana, 5)
    await expect(ben.page.locator('#presence li', has_text="Ana")).to_contain_text("Chapter 5")
    await ana.page.get_by_label("Message", exact=True).fill("The letter was from her brother!")
    await ana.page.get_by_role("button", name="Send").click()
    await expect(ana.page.locator("#timeline")).to_contain_text("The letter was from her brother!")
    # Ben is at the start: the message is hidden, saying what and where it unlocks
    hidden = ben.page.locator('#timeline [data-hidden="true"]')
    await expect(hidden).to_contain_text("A message by Ana")
    await expect(hidden).to_contain_text("unlocks when you reach 50%")
    assert "brother" not in await ben.page.locator("#timeline").inner_text()
    await ben.shot("07-room-hidden")
    await assert_accessible(ben, "07-room-hidden", violations)

    # Ben chats and reacts at his place (Ana, further on, sees both)
    await ben.page.get_by_label("Message", exact=True).fill("Just started, the storm is coming")
    await expect(ana.page.locator("#typing")).to_have_text("Ben is typing…")
    await ben.page.get_by_role("button", name="Send").click()
    await ben.page.get_by_role("button", name="React 🔥 here").click()
    await expect(ana.page.locator("#timeline")).to_contain_text("Just started, the storm is coming")
    await expect(ana.page.locator('#timeline [data-kind="reaction"]')).to_contain_text("🔥")

    # Ben reaches chapter 5: the message unlocks in place
    await chapter(ben, 5)
    await expect(ben.page.locator("#timeline")).to_contain_text("The letter was from her brother!")
    await expect(hidden).to_have_count(0)
    await ben.shot("08-room-unlocked")

    # Ana annotates a passage; Ben sees the note
    await ana.page.get_by_text("Annotate a passage").click()
    await ana.page.get_by_label("Passage (quote)").fill("The lamp burned all night")
    await ana.page.get_by_label("Your note").fill("This is the turning point")
    await ana.page.get_by_role("button", name="Save note").click()
    await expect(items(ben, "annotation")).to_contain_text("This is the turning point")
    await ben.page.get_by_role("button", name="React 👍 to this note").click()
    await expect(items(ana, "reaction", "👍")).to_be_visible()
    await ana.shot("09-room-annotation")

    # Ben reloads: still in chapter 5
    await ben.page.reload()
    await expect(ben.page.locator("#my-pos")).to_contain_text("Chapter 5")
    await expect(ben.page.locator("#timeline")).to_contain_text("This is the turning point")
    await expect(ben.page.locator("#presence")).to_contain_text("Ana")
    await expect(ben.page.locator(".chapters [aria-current=true]")).to_contain_text("Chapter 5")
    await ben.shot("10-room-after-reload")

    # Ben goes offline, types a message (queued), comes back: it arrives once
    await ben.context.set_offline(True)
    await expect(ben.page.locator("#conn")).to_have_attribute("data-state", "offline")
    await ben.page.get_by_label("Message", exact=True).fill("Written on the train, sent later")
    await ben.page.get_by_role("button", name="Send").click()
    await expect(ben.page.locator('#timeline [data-pending="true"]')).to_contain_text("Queued")
    await ben.shot("11-offline-queued")
    await ben.context.set_offline(False)
    await expect(ben.page.locator("#conn")).to_have_attribute("data-state", "online")
    offline_msg = items(ana, "chat", "Written on the train, sent later")
    await expect(offline_msg).to_have_count(1)
    await expect(ben.page.locator('#timeline [data-pending="true"]')).to_have_count(0)
    await expect(items(ben, "chat", "Written on the train")).to_have_count(1)
    # ... and he takes it back: gone for Ana too
    train = items(ben, "chat", "Written on the train")
    await train.get_by_role("button", name="Delete my message").click()
    await expect(offline_msg).to_have_count(0)

    # Cy follows Ana from her profile; Ana's badge lights up live
    await cy.page.goto(f"/app/#/u/{ana.handle}")
    await cy.page.get_by_role("button", name="Follow").click()
    await expect(cy.page.get_by_role("button", name="Unfollow")).to_be_visible()
    await cy.page.get_by_text("Followers", exact=True).click()
    await expect(cy.page.locator("#p-followers")).to_contain_text(f"@{cy.handle}")
    await assert_accessible(cy, "12-profile", violations)
    await worker()
    badge = ana.page.locator("#badge")
    await expect(badge).to_have_text("2")  # the follow, and Ben's reaction to her note
    await ana.shot("13-notification-badge")
    await ana.page.get_by_role("link", name=re.compile("Notifications")).click()
    await expect(ana.page.locator("#notifications")).to_contain_text("Cy started following you")
    await expect(ana.page.locator("#notifications")).to_contain_text("Ben reacted to your note")
    await assert_accessible(ana, "14-notifications", violations)
    await ana.page.get_by_role("button", name="Mark all read").click()
    await expect(badge).to_be_hidden()

    # Cy's feed now shows what Ana has been doing
    await cy.page.get_by_role("link", name="Home").click()
    feed = cy.page.locator("section", has_text="From people you follow")
    await expect(feed).to_contain_text("Ana")
    await assert_accessible(cy, "15-feed-phone", violations)

    # Cy looks in on a phone
    await room_of(cy, session_id)
    await expect(cy.page.locator("#presence")).to_contain_text("Ben")  # Ana is on another page
    await assert_accessible(cy, "16-room-phone", violations)

    # Ana ends the session: Ben's room turns read-only with the record
    await ana.page.goto(f"/app/#/session/{session_id}")
    await ana.page.get_by_role("button", name="End session").click()
    await ana.page.get_by_role("button", name="Confirm: end for everyone").click()
    await expect(ben.page.get_by_text("This session has ended")).to_be_visible()
    await expect(ben.page.get_by_label("Message", exact=True)).to_be_disabled()
    await expect(ben.page.locator("#record")).to_contain_text("2 messages")
    await ben.shot("17-session-ended")
    for p in (ana, ben, cy):
        await p.context.close()
    assert not violations, violations


async def test_follow_the_host(servers: list[ServerProcess], browser: Any,
                               book: dict[str, Any]) -> None:
    """In a follow-mode session a reader who follows the host moves with her, chapter by chapter,
    and stops following when they pick a chapter themselves."""
    t = tag()
    ana = await person(browser, servers[0], "Ana", t)
    ben = await person(browser, servers[1], "Ben", t)
    for p in (ana, ben):
        await register(p)
    await ana.page.goto(f"/app/#/book/{book['id']}")
    await ana.page.get_by_label("Session title").fill(f"Guided {t}")
    await ana.page.get_by_label("Mode").select_option("follow")
    await ana.page.get_by_role("button", name="Start reading together").click()
    await expect(ana.page.get_by_role("heading", name=f"Guided {t}")).to_be_visible()
    session_id = int(ana.page.url.rsplit("/", 1)[1])
    await room_of(ben, session_id)
    await expect(ben.page.get_by_label("Follow the host")).to_be_checked()
    await expect(ana.page.locator("#presence")).to_contain_text("Ben")
    await chapter(ana, 3)
    await expect(ben.page.locator("#my-pos")).to_contain_text("Chapter 3")
    await chapter(ana, 4)
    await expect(ben.page.locator("#my-pos")).to_contain_text("Chapter 4")
    await ben.shot("18-following-the-host")
    await chapter(ben, 2)
    await expect(ben.page.get_by_label("Follow the host")).not_to_be_checked()
    await chapter(ana, 6)
    await expect(ben.page.locator('#presence li', has_text="Ana")).to_contain_text("Chapter 6")
    await expect(ben.page.locator("#my-pos")).to_contain_text("Chapter 2")
    for p in (ana, ben):
        await p.context.close()


async def test_reconnect_after_a_server_restart(servers: list[ServerProcess], browser: Any,
                                                book: dict[str, Any]) -> None:
    """When a reader's server restarts, the app says so, reconnects by itself and shows the
    messages sent meanwhile (resubscribed with `since`), each once."""
    t = tag()
    ana = await person(browser, servers[0], "Ana", t)
    ben = await person(browser, servers[1], "Ben", t)
    for p in (ana, ben):
        await register(p)
    await ana.page.goto(f"/app/#/book/{book['id']}")
    await ana.page.get_by_label("Session title").fill(f"Restart {t}")
    await ana.page.get_by_role("button", name="Start reading together").click()
    await expect(ana.page.get_by_role("heading", name=f"Restart {t}")).to_be_visible()
    session_id = int(ana.page.url.rsplit("/", 1)[1])
    await room_of(ben, session_id)
    await expect(ana.page.locator("#presence")).to_contain_text("Ben")
    servers[1].stop()
    try:
        await expect(ben.page.locator("#conn")).not_to_have_attribute("data-state", "online")
        await ben.shot("19-server-restarting")
        await ana.page.get_by_label("Message", exact=True).fill("Did you see the ship?")
        await ana.page.get_by_role("button", name="Send").click()
        await expect(ana.page.locator("#timeline")).to_contain_text("Did you see the ship?")
    finally:
        servers[1].start()
    conn = ben.page.locator("#conn")
    await expect(conn).to_have_attribute("data-state", "online", timeout=30_000)
    missed = items(ben, "chat", "Did you see the ship?")
    await expect(missed).to_have_count(1)
    await ben.shot("20-reconnected")
    for p in (ana, ben):
        await p.context.close()


async def test_the_socket_outlives_short_access_tokens(engines: Any, browser: Any,
                                                      book: dict[str, Any],
                                                      tmp_path_factory: pytest.TempPathFactory
                                                      ) -> None:
    """With 10-second access tokens the app answers each `reauth` with a refreshed token: the
    reader stays connected on one socket past several token lifetimes, and REST still works.
    (The notice comes a fifth of the lifetime before the expiry, at least a second, rounded to
    the hub's one-second wheel: 10 s leaves the page 2 s to refresh and re-authenticate; with
    6 s it had 1 s, and in one CI run the socket was reopened, most likely closed 4002 after a
    refresh that took longer.)"""
    port = free_port()
    env = engines.env(READALONG_REGISTER_RATE="100000", READALONG_LOGIN_RATE="100000",
                      READALONG_ACCESS_TOKEN_TTL="10",
                      READALONG_ALLOWED_ORIGINS=f"http://127.0.0.1:{port}")
    server = ServerProcess(env, port=port, log_dir=tmp_path_factory.mktemp("e2e-ttl")).start()
    try:
        dee = await person(browser, server, "Dee", tag())
        sockets: list[Any] = []
        refreshes: list[str] = []
        dee.page.on("websocket", lambda ws: sockets.append(ws))
        dee.page.on("requestfinished", lambda r: refreshes.append(r.url)
                    if r.url.endswith("/api/v1/auth/refresh") else None)
        await register(dee)
        await expect(dee.page.locator("#conn")).to_have_attribute("data-state", "online")
        await dee.page.wait_for_event("requestfinished", predicate=lambda r: r.url.endswith(
            "/api/v1/auth/refresh"), timeout=20_000)
        await dee.page.wait_for_event("requestfinished", predicate=lambda r: r.url.endswith(
            "/api/v1/auth/refresh"), timeout=20_000)
        await expect(dee.page.locator("#conn")).to_have_attribute("data-state", "online")
        assert len(sockets) == 1, "the socket was reopened instead of re-authenticated"
        assert len(refreshes) >= 2
        await dee.page.goto(f"/app/#/book/{book['id']}")
        await expect(dee.page.get_by_role("heading", name=book["title"])).to_be_visible()
        await dee.page.get_by_label("My shelf").select_option("reading")
        await expect(dee.page.get_by_text("Saved: Reading")).to_be_visible()
        await dee.context.close()
    finally:
        server.stop()


async def test_a_lost_ack_is_resent_with_its_key_and_stored_once(
        servers: list[ServerProcess], browser: Any, book: dict[str, Any]) -> None:
    """When the connection drops after the server stored a message but before its ack arrived,
    the app resends it with the same idempotency key after reconnecting: one message, not two."""
    ana = await person(browser, servers[0], "Ana", tag())
    armed = {"on": False, "dropped": 0}
    pending: set[str] = set()
    closing: set[Any] = set()

    async def through(route: Any) -> None:
        server = route.connect_to_server()

        def upstream(message: Any) -> None:
            if armed["on"] and isinstance(message, str) and '"chat"' in message \
                    and '"publish"' in message:
                pending.add(json.loads(message)["id"])
            server.send(message)

        def downstream(message: Any) -> None:
            if isinstance(message, str) and pending:
                frame = json.loads(message)
                if frame.get("type") == "ack" and frame.get("id") in pending:
                    pending.clear()
                    armed.update(on=False, dropped=armed["dropped"] + 1)
                    task = asyncio.ensure_future(route.close(code=4012, reason="test: ack lost"))
                    closing.add(task)
                    task.add_done_callback(closing.discard)
                    return
            route.send(message)

        route.on_message(upstream)
        server.on_message(downstream)

    await ana.page.route_web_socket(re.compile(r".*/ws$"), through)
    await register(ana)
    session_id = await start_session(ana, book["id"], "Once")
    await expect(ana.page.locator("#presence")).to_contain_text("Ana")
    armed["on"] = True
    await ana.page.get_by_label("Message", exact=True).fill("Only once, please")
    await ana.page.get_by_role("button", name="Send").click()
    await expect(ana.page.locator("#conn")).to_have_attribute("data-state", "online")
    await expect(ana.page.locator('#timeline [data-pending="true"]')).to_have_count(0)
    assert armed["dropped"] == 1
    await expect(items(ana, "chat", "Only once, please")).to_have_count(1)
    async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=15) as http:
        token = await ana.page.evaluate("sessionStorage.getItem('ra.refresh')")
        pair = (await http.post("/api/v1/auth/refresh", json={"refresh_token": token})).json()
        r = await http.get(f"/api/v1/sessions/{session_id}/messages",
                           headers={"Authorization": f"Bearer {pair['access_token']}"})
    bodies = [m["body"] for m in r.json()["items"]]
    assert bodies.count("Only once, please") == 1, bodies
    await ana.context.close()


async def test_first_load_budget(servers: list[ServerProcess], browser: Any) -> None:
    """The app's first load stays under 300 KB compressed; the figures are printed."""
    context = await browser.new_context(base_url=servers[0].base_url)
    page = await context.new_page()
    sizes: dict[str, tuple[int, int]] = {}

    async def on_response(response: Any) -> None:
        if response.url.startswith(servers[0].base_url + "/app"):
            body = await response.body()
            sizes[response.url] = (len(body), len(gzip.compress(body, 9)))

    page.on("response", on_response)
    await page.goto("/app/")
    await expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    await page.wait_for_load_state("networkidle")
    ready = await page.evaluate("window.__readyAt")
    raw = sum(r for r, _ in sizes.values())
    packed = sum(g for _, g in sizes.values())
    line = (f"first load of /app/: {len(sizes)} files, {raw / 1024:.1f} KB raw, "
            f"{packed / 1024:.1f} KB gzip (budget 300 KB); interactive after {ready:.0f} ms")
    print(line)
    FIGURES.append(line)
    await context.close()
    assert packed < 300 * 1024
