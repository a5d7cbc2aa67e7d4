"""The reading life, reviews, clubs, settings, imports, discovery and leaderboards in real
Chromium, two or three readers against the shared pair of real server processes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import os
import re
import struct
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from arq import create_pool
from PIL import Image

from jobs.worker import redis_settings
from tests.accounts_helpers import register as rest_register
from tests.catalog_helpers import create_book
from tests.e2e.browser import (
    PASSWORD,
    assert_accessible,
    dark,
    expect,
    person,
    register,
    tag,
    two_readers,
)
from tests.interop_helpers import goodreads_csv
from tests.support import ServerProcess
from tests.worker_helpers import PushEndpoint


async def cron_now(engines: Any, worker: Any, *jobs: tuple[str, ...]) -> None:
    """What the worker's crons do on time, now: queue these jobs and run the worker."""
    pool = await create_pool(redis_settings(engines.redis_url))
    try:
        for name, *args in jobs:
            await pool.enqueue_job(name, *args)
    finally:
        await pool.aclose()
    await worker()


async def open_due_sections(engines: Any, worker: Any) -> None:
    """Open the club sections that are due (the worker's cron, run now)."""
    await cron_now(engines, worker, ("open_due_sections", datetime.now(UTC).isoformat()))


async def test_shelves_progress_goal_streak_and_stats(servers: list[ServerProcess], browser: Any,
                                                      book: dict[str, Any], worker: Any) -> None:
    """A reader shelves a book, updates her progress, sets a goal, finishes the book, and sees
    her streak, goal ring and monthly charts change, then her first badge arrive live (a
    notification, and the badge earned on the screen); a bad goal is explained under its field."""
    ana = await person(browser, servers[0], "Ana", tag())
    found: list[dict[str, Any]] = []
    page = ana.page
    await register(ana)
    await page.get_by_role("link", name="My reading").click()
    await expect(page.get_by_text("No books marked “Reading”.")).to_be_visible()
    await expect(page.get_by_text("No goal for this year yet.")).to_be_visible()
    await assert_accessible(ana, "30-reading-empty", found)

    await page.goto(f"/app/#/book/{book['id']}")
    await page.get_by_label("My shelf").select_option("reading")
    await expect(page.get_by_text("Saved: Reading")).to_be_visible()
    await page.get_by_role("link", name="My reading").click()
    row = page.locator(f'#shelf-list [data-book="{book["id"]}"]')
    await expect(row).to_be_visible()
    percent = row.get_by_label(f"Percent read of {book['title']}")
    await percent.fill("140")
    await row.get_by_role("button", name="Update progress").click()
    await expect(row.locator('.field-error[data-for="percentage"]')).to_have_text(
        "must be at most 100.0")
    await percent.fill("40")
    await row.get_by_role("button", name="Update progress").click()
    await expect(row).to_contain_text("40%")
    await expect(page.locator("#streak-days")).to_have_text("1 day")

    goal = page.locator("#goal")
    await goal.get_by_label("Books this year").fill("0")
    await goal.get_by_role("button", name="Set my goal").click()
    await expect(goal.locator('.field-error[data-for="books"]')).to_have_text("must be at least 1")
    await goal.get_by_label("Books this year").fill("12")
    await goal.get_by_role("button", name="Set my goal").click()
    await expect(page.locator("#goal-text")).to_have_text("0 of 12 books")

    await row.get_by_role("button", name="Mark as finished").click()
    await expect(page.locator("#goal-text")).to_have_text("1 of 12 books")
    await expect(page.locator("#stats-summary")).to_contain_text("1 book")
    await expect(page.locator("#chart-books rect.bar")).to_have_count(12)
    first = page.locator('#badges li[data-earned="true"]').filter(has_text="First finish")
    await expect(first).to_have_count(0)
    await worker()  # the worker checks badges off the request, and notifies live
    await expect(page.locator("#toasts")).to_contain_text("You earned the First finish badge")
    await expect(page.locator("#badge")).to_be_visible()  # the unread count in the header
    await expect(first).to_contain_text("earned")
    await page.get_by_role("button", name=re.compile(r"^Read \(1\)")).click()
    await expect(page.locator("#shelf-list")).to_contain_text(book["title"])
    shelf_list = page.locator("#shelf-list")
    await shelf_list.get_by_label(f"Add {book['title']} to a shelf").fill("Favourites")
    await page.locator("#shelf-list").get_by_role("button", name="Add", exact=True).click()
    await expect(page.get_by_role("button", name="Favourites (1)")).to_be_visible()
    await expect(page.locator('#badges li').first).to_be_visible()
    await assert_accessible(ana, "31-reading", found)
    await dark(ana, "31-reading", found)
    await ana.context.close()
    assert not found, found


async def test_reviews_shielded_liked_commented_and_reported(
        servers: list[ServerProcess], browser: Any, book: dict[str, Any]) -> None:
    """A finished reader's spoiler review is shielded for a reader at the start (who can still
    like, comment on and report it) and opens for him once he has read the book."""
    t, ana, ben = await two_readers(browser, servers, phone=True)
    found: list[dict[str, Any]] = []
    secret = f"The keeper wrote the letter herself {t}"
    await ana.page.goto(f"/app/#/book/{book['id']}")
    await ana.page.get_by_label("My shelf").select_option("read")
    await expect(ana.page.get_by_text("Saved: Read")).to_be_visible()
    await ana.page.reload()
    form = ana.page.get_by_role("form", name="My review")
    await form.get_by_label("Rating").select_option("4.5")
    await form.get_by_label("Your review").fill(secret)
    await form.get_by_label("The whole review is a spoiler").check()
    await form.get_by_role("button", name="Post review").click()
    mine = ana.page.locator("#reviews li", has_text=secret)
    await expect(mine).to_be_visible()

    page = ben.page
    await page.goto(f"/app/#/book/{book['id']}")
    await page.get_by_text("Write a review").click()
    await page.get_by_role("form", name="My review").get_by_label("Your review").fill("Loved it")
    await page.get_by_role("button", name="Post review").click()
    await expect(page.get_by_role("form", name="My review").locator(".form-error")).to_contain_text(
        "set its status first")
    await page.get_by_label("My shelf").select_option("reading")
    await expect(page.get_by_text("Saved: Reading")).to_be_visible()
    review = page.locator("#reviews li.review", has=page.get_by_role("link", name="Ana"))
    await expect(review.locator('[data-shielded="true"]')).to_be_visible()
    assert secret not in await page.locator("#reviews").inner_text()
    await review.get_by_role("button", name="Like Ana's review").click()
    await expect(review.get_by_role("button", name="Like Ana's review")).to_have_attribute(
        "aria-pressed", "true")
    await review.get_by_text("Comments (0)").click()
    await review.get_by_label("Comment on Ana's review").fill("No spoilers please!")
    await review.get_by_role("button", name="Comment", exact=True).click()
    await expect(review).to_contain_text("No spoilers please!")
    await expect(review.get_by_text("Comments (1)")).to_be_visible()
    await review.get_by_text("Report", exact=True).click()
    await review.get_by_label("Why?").select_option("spoiler")
    await review.get_by_role("button", name="Send report").click()
    await expect(review.get_by_text("the moderators will look at it")).to_be_visible()
    await assert_accessible(ben, "32-review-shielded-phone", found)

    await page.get_by_label("My shelf").select_option("read")
    await expect(page.get_by_text("Saved: Read")).to_be_visible()
    await page.reload()
    await review.get_by_text("Spoiler: show the review").click()
    await expect(review).to_contain_text(secret)
    await assert_accessible(ben, "33-review-unlocked-phone", found)
    await ana.page.reload()
    await expect(mine.get_by_role("button", name="Like Ana's review")).to_contain_text("1")
    await expect(ana.page.locator(".hist")).to_be_visible()
    await expect(ana.page.locator("#book-readers")).to_contain_text(
        re.compile(r"\d+ reading now · [1-9]\d* finished it"))  # Ana and Ben finished it
    await assert_accessible(ana, "34-book-reviews", found)
    await dark(ana, "34-book-reviews", found)
    for p in (ana, ben):
        await p.context.close()
    assert not found, found


async def test_club_schedule_gate_threads_chat_events_and_polls(
        servers: list[ServerProcess], browser: Any, book: dict[str, Any], engines: Any,
        worker: Any) -> None:
    """An organiser starts a club on her book and sets its schedule; a reader on the other server
    joins from the directory, meets the progress gate, opens a thread where a post from further
    on is hidden, chats live, answers an event (with its .ics) and votes in a poll."""
    t, ana, ben = await two_readers(browser, servers)
    found: list[dict[str, Any]] = []
    a, b = ana.page, ben.page
    await a.goto(f"/app/#/book/{book['id']}")
    await a.get_by_label("My shelf").select_option("reading")
    await expect(a.get_by_text("Saved: Reading")).to_be_visible()
    await a.get_by_role("link", name="Clubs").click()
    await expect(a.get_by_text("You are not in a club yet.")).to_be_visible()
    create = a.get_by_role("form", name="Start a club")
    await create.get_by_role("button", name="Create club").click()
    await expect(create.locator('.field-error[data-for="name"]')).to_have_text(
        "must not be empty")
    name = f"Lamplighters {t}"
    await create.get_by_label("Club name").fill(name)
    await create.get_by_label("Current book").select_option(str(book["id"]))
    await create.get_by_role("button", name="Create club").click()
    await expect(a.get_by_role("heading", name=name)).to_be_visible()
    sched = a.get_by_role("form", name="Set the schedule")
    await sched.get_by_label("First section opens").fill("2026-01-01T09:00")
    await sched.get_by_label("Then one every (days)").fill("1")
    await sched.get_by_role("button", name="Set the schedule").click()
    await expect(a.locator("#schedule li[data-section]")).to_have_count(8)
    await open_due_sections(engines, worker)
    await expect(a.get_by_role("button", name="Open the thread of Chapter 1")).to_be_visible()
    events = a.get_by_role("form", name="Plan an event")
    await a.get_by_text("Plan an event").click()
    await events.get_by_label("Event title").fill(f"Storm night talk {t}")
    await events.get_by_role("button", name="Create event").click()
    await expect(a.locator("#events")).to_contain_text(f"Storm night talk {t}")
    await a.get_by_text("Open a poll").click()
    poll = a.get_by_role("form", name="Open a poll")
    await poll.get_by_label("Question").fill("What next?")
    await poll.get_by_label("Choices, one per line").fill("The Sea Wall\nNorth Light")
    await poll.get_by_role("button", name="Open poll").click()
    await expect(a.locator("#polls")).to_contain_text("What next?")

    await b.get_by_role("link", name="Clubs").click()
    await b.get_by_label("Search clubs").fill(f"Lamplighters {t}")
    await b.locator("#club-results").get_by_role("link", name=name).click()
    await b.get_by_role("button", name="Join club").click()
    await expect(b.get_by_role("button", name="Leave club")).to_be_visible()
    second = b.locator('#schedule li[data-section]').nth(1)
    await expect(second).to_have_attribute("data-locked", "true")
    await expect(second).to_contain_text("Opens for you at 12.5%")
    await b.get_by_role("button", name="I've read Chapter 1").click()
    await expect(second).to_have_attribute("data-locked", "false")

    # Ana is further on (chapter 3): her post in chapter 1's thread is hidden for Ben. She opens
    # the thread and writes while the club screen redraws for her read (held until she has
    # written): the redraw keeps the open thread and her text
    await a.reload()
    club_read = asyncio.Event()

    async def held(route: Any) -> None:
        await club_read.wait()
        await route.continue_()

    cid = a.url.rsplit("/", 1)[-1]
    read3 = a.get_by_role("button", name="I've read Chapter 3")
    await expect(read3).to_be_visible()
    await a.route(re.compile(rf"/api/v1/clubs/{cid}$"), held)
    await read3.click()
    await b.get_by_role("button", name="Open the thread of Chapter 1").click()
    await a.get_by_role("button", name="Open the thread of Chapter 1").click()
    letter = "The letter in chapter 3 changes everything"
    await a.get_by_label("Your post").fill(letter)
    club_read.set()
    await expect(a.get_by_role("progressbar", name="Ana: progress")).to_have_attribute(
        "aria-valuenow", "38")  # redrawn with her new place
    await a.unroute(re.compile(rf"/api/v1/clubs/{cid}$"))
    await expect(a.get_by_label("Your post")).to_have_value(letter)
    await a.get_by_role("button", name="Post", exact=True).click()
    await expect(a.locator("#thread-posts")).to_contain_text("changes everything")
    hidden = b.locator('#thread-posts [data-hidden="true"]')
    await expect(hidden).to_contain_text("it unlocks when you reach 37.5%")
    assert "changes everything" not in await b.locator("#thread-posts").inner_text()

    # the organisers lock the thread while Ben writes: the refusal is shown at his composer, his
    # text stays, and Post works again once the thread is unlocked
    sid = await b.locator("#schedule li[data-section]").first.get_attribute("data-section")
    async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=15) as http:
        r = await http.post("/api/v1/auth/login", json={"email": ana.email, "password": PASSWORD})
        http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        lock = f"/api/v1/clubs/{cid}/sections/{sid}/thread"
        assert (await http.patch(lock, json={"locked": True})).status_code == 200
        question = "Did the keeper ever read it?"
        await b.get_by_label("Your post").fill(question)
        await b.get_by_role("button", name="Post", exact=True).click()
        composer = b.get_by_role("form", name="Post in Chapter 1")
        await expect(composer.get_by_role("alert")).to_have_text(
            "the organisers locked this thread")
        await expect(b.get_by_label("Your post")).to_have_value(question)
        assert (await http.patch(lock, json={"locked": False})).status_code == 200
    await b.get_by_role("button", name="Post", exact=True).click()
    await expect(b.locator("#thread-posts")).to_contain_text(question)
    await expect(a.locator("#thread-posts")).to_contain_text(question)  # live for Ana
    await expect(b.get_by_label("Your post")).to_have_value("")
    await expect(composer.locator(".form-error")).to_have_text("")

    await b.get_by_label("Message the club").fill(f"Hello lamplighters {t}")
    await b.get_by_role("button", name="Send").click()
    await expect(a.locator("#club-chat")).to_contain_text(f"Hello lamplighters {t}")
    event = b.locator("#events li[data-event]")
    await event.get_by_role("button", name="Going").click()
    await expect(event.locator("[data-counts]")).to_contain_text("1 going")
    calendar = event.get_by_role("link", name=re.compile("to my calendar"))
    ics = await calendar.get_attribute("href")
    r = await b.request.get(str(ics))
    body = await r.text()
    assert r.ok and "BEGIN:VCALENDAR" in body and f"Storm night talk {t}" in body
    async with b.expect_download() as saving:  # the click downloads it with Ben's token
        await calendar.click()
    saved = await asyncio.to_thread(Path(await (await saving.value).path()).read_text)
    assert "BEGIN:VCALENDAR" in saved and f"Storm night talk {t}" in saved
    pollbox = b.locator("#polls li[data-poll]")
    await pollbox.get_by_role("radio", name="North Light").check()
    await pollbox.get_by_role("button", name="Vote").click()
    await expect(pollbox).to_contain_text("1 voter")
    await expect(a.locator("#polls")).to_contain_text("1 voter")
    await assert_accessible(ben, "35-club", found)
    await dark(ben, "35-club", found)
    await a.get_by_text("Books so far").click()
    await expect(a.locator("#club-books")).to_contain_text(book["title"])
    await assert_accessible(ana, "36-club-organiser", found)
    for p in (ana, ben):
        await p.context.close()
    assert not found, found


def totp(secret: str, at: float | None = None) -> str:
    """The current RFC 6238 code of a base32 secret (SHA-1, 30 s, 6 digits)."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // 30)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


async def test_account_settings(servers: list[ServerProcess], browser: Any,
                                worker: Any) -> None:
    """A reader changes her password (a wrong one is explained under its field), signs a second
    device out, uploads a profile picture, approves a follow request, unblocks a reader, asks
    to change her email (a wrong password is explained), changes a notification channel, turns
    on two-factor sign-in (her other device then signs in with a recovery code), makes an
    e-reader sync login, downloads her data and schedules then cancels her account's
    deletion."""
    t = tag()
    ana = await person(browser, servers[0], "Ana", t)
    found: list[dict[str, Any]] = []
    await register(ana)
    page = ana.page
    await page.get_by_role("link", name="Settings").click()
    pw = page.get_by_role("form", name="Change password")
    await pw.get_by_label("Current password").fill("not my password at all")
    await pw.get_by_label("New password").fill("a much longer new passphrase")
    await pw.get_by_role("button", name="Change password").click()
    await expect(pw.locator('.field-error[data-for="current_password"]')).not_to_be_empty()
    await pw.get_by_label("Current password").fill(PASSWORD)
    await pw.get_by_role("button", name="Change password").click()
    await expect(pw.get_by_text("Password changed")).to_be_visible()

    # a second device signs in with the new password; the first one signs it out
    other = await person(browser, servers[1], "Ana", t)
    await other.page.goto("/app/")
    await other.page.get_by_label("Email").fill(ana.email)
    await other.page.get_by_label("Password").fill("a much longer new passphrase")
    await other.page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(other.page.get_by_role("heading", name="Home")).to_be_visible()
    await page.reload()
    devices = page.locator("#device-list li")
    await expect(devices).to_have_count(2)
    await devices.get_by_role("button", name=re.compile("^Sign out")).click()
    await expect(devices).to_have_count(1)
    await expect(other.page.locator("#conn")).to_have_attribute("data-state", "signed-out")
    async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=15) as http:
        dan = await rest_register(http, t, prefix="dan")
        eve = await rest_register(http, t, prefix="eve")
        r = await http.post("/api/v1/auth/login", json={
            "email": ana.email, "password": "a much longer new passphrase"})
        mine = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await http.patch("/api/v1/me", json={"visibility": "followers"}, headers=mine)
        assert r.is_success, r.text
        r = await http.post(f"/api/v1/users/{ana.handle}/follow", headers=dan.headers)
        assert r.json()["state"] == "requested", r.text  # Dan asks to follow Ana
        r = await http.post(f"/api/v1/users/{eve.handle}/block", headers=mine)
        assert r.is_success, r.text

    email = page.locator("#prefs-types tbody tr").first.get_by_role(
        "checkbox", name=re.compile("^Email: "))
    was = await email.is_checked()
    await email.set_checked(not was)
    await expect(page.locator("#prefs-status")).to_contain_text("Saved: email for")
    await page.reload()
    await expect(email).to_be_checked(checked=not was)
    await page.locator(f'#follow-requests [data-handle="{dan.handle}"]').get_by_role(
        "button", name=re.compile("^Approve")).click()
    await expect(page.locator("#follow-requests")).to_contain_text("Nobody is asking")
    await page.locator(f'#blocked [data-handle="{eve.handle}"]').get_by_role(
        "button", name=re.compile("^Unblock")).click()
    await expect(page.locator("#blocked")).to_contain_text("You have blocked nobody.")
    await expect(page.locator("#email-state")).to_contain_text(ana.email)
    picture = page.get_by_role("form", name="Profile picture")
    await picture.get_by_role("button", name="Upload picture").click()
    await expect(picture.locator('.field-error[data-for="file"]')).to_have_text(
        "Choose an image first.")
    png = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 120, 40)).save(png, "PNG")
    await picture.get_by_label("Choose an image").set_input_files(
        files=[{"name": "me.png", "mimeType": "image/png", "buffer": png.getvalue()}])
    await picture.get_by_role("button", name="Upload picture").click()
    await expect(page.locator("#avatar-now img")).to_have_attribute(
        "src", re.compile(r"/api/v1/avatars/\d+/.+\.png$"))
    mail = page.get_by_role("form", name="Change email")
    await mail.get_by_label("New email address").fill(f"new{ana.email}")
    await mail.get_by_label("Your password").fill("wrong password, surely")
    await mail.get_by_role("button", name="Change email").click()
    await expect(mail.locator('.field-error[data-for="email_password"], .form-error')
                 .filter(has_text=re.compile(r"\w")).first).to_be_visible()
    await mail.get_by_label("Your password").fill("a much longer new passphrase")
    await mail.get_by_role("button", name="Change email").click()
    await expect(page.locator("#email-state")).to_contain_text(
        f"Waiting for you to confirm new{ana.email}")

    enrol = page.get_by_role("form", name="Turn on two-factor sign-in")
    await enrol.get_by_label("Your password").fill("a much longer new passphrase")
    await enrol.get_by_role("button", name="Set up two-factor sign-in").click()
    secret = await page.locator("#totp-secret").inner_text()
    confirm = page.get_by_role("form", name="Confirm two-factor sign-in")
    wrong = "000000" if totp(secret) != "000000" else "111111"
    await confirm.get_by_label("The 6-digit code it shows").fill(wrong)
    await confirm.get_by_role("button", name="Turn on").click()
    await expect(confirm.locator('.field-error[data-for="code"], .form-error')
                 .filter(has_text=re.compile(r"\w")).first).to_be_visible()
    await confirm.get_by_label("The 6-digit code it shows").fill(totp(secret))
    await confirm.get_by_role("button", name="Turn on").click()
    await expect(page.locator("#recovery-codes li")).to_have_count(10)
    # her other device signs in again: the password, then a second step (a recovery code)
    recovery = (await page.locator("#recovery-codes li").first.inner_text()).strip()
    o = other.page
    await o.goto("/app/")
    await o.get_by_label("Email").fill(ana.email)
    await o.get_by_label("Password").fill("a much longer new passphrase")
    await o.get_by_role("button", name="Sign in", exact=True).click()
    second = o.get_by_role("form", name="Two-factor sign-in")
    await second.get_by_label("Code").fill("not-a-code")
    await second.get_by_role("button", name="Sign in", exact=True).click()
    await expect(second.locator('.field-error[data-for="code"], .form-error')
                 .filter(has_text=re.compile(r"\w")).first).to_be_visible()
    await assert_accessible(other, "37-two-factor-sign-in", found)
    await second.get_by_label("Code").fill(recovery)
    await second.get_by_role("button", name="Sign in", exact=True).click()
    await expect(o.get_by_role("heading", name="Home")).to_be_visible()

    sync = page.get_by_role("form", name="New sync login")
    await sync.get_by_label("Sync username").fill(f"ana-kobo-{t}")
    await sync.get_by_label("Sync password").fill("kobo secret 1234")
    await sync.get_by_role("button", name="Create sync login").click()
    await expect(page.locator("#kosync-ids")).to_contain_text(f"ana-kobo-{t}")

    await page.get_by_role("button", name="Prepare a full export").click()
    await expect(page.locator("#export-status")).to_contain_text("being prepared")
    await worker()
    async with page.expect_download() as dl:
        await page.get_by_role("button", name="Download my export").click()
    saved = await (await dl.value).path()
    exported = json.loads(await asyncio.to_thread(Path(saved).read_text))
    assert ana.handle in json.dumps(exported)

    gone = page.get_by_role("form", name="Delete my account")
    await gone.get_by_label("Your password").fill("wrong password, surely")
    await gone.get_by_role("button", name="Delete my account").click()
    await expect(gone.locator('.field-error[data-for="password"]')).not_to_be_empty()
    await assert_accessible(ana, "37-settings", found)
    await gone.get_by_label("Your password").fill("a much longer new passphrase")
    await gone.get_by_role("button", name="Delete my account").click()
    await expect(page.locator("#deletion-status")).to_contain_text("will be deleted on")
    await page.get_by_role("button", name="Keep my account").click()
    await expect(page.get_by_role("form", name="Delete my account")).to_be_visible()
    await dark(ana, "37-settings", found)
    for p in (ana, other):
        await p.context.close()
    assert not found, found


async def test_import_preview_then_for_real_with_a_live_progress_bar(
        servers: list[ServerProcess], browser: Any, book: dict[str, Any], worker: Any) -> None:
    """A reader uploads her Goodreads export: a missing file is explained under its field, the
    preview's bar fills as the worker pushes progress, then the real import lands on her
    shelves."""
    t = tag()
    ana = await person(browser, servers[1], "Ana", t)
    found: list[dict[str, Any]] = []
    await register(ana)
    page = ana.page
    await page.goto("/app/#/import")
    await expect(page.get_by_text("No imports yet.")).to_be_visible()
    await page.get_by_role("button", name="Upload").click()
    await expect(page.locator('.field-error[data-for="file"]')).to_have_text(
        "Choose the CSV file you exported.")
    rows = [{"Book Id": str(i), "Title": f"Imported Tale {i} {t}", "Author": "Ima Porter",
             "Exclusive Shelf": "read" if i % 2 else "to-read", "Date Added": "2024/03/01"}
            for i in range(1, 13)]
    rows.append({"Book Id": "99", "Title": book["title"], "Author": "Mara Ellison",
                 "Exclusive Shelf": "currently-reading", "Date Added": "2024/03/02"})
    csv = tmp_csv(goodreads_csv(rows), t)
    await page.get_by_label("CSV file").set_input_files(str(csv))
    await page.get_by_role("button", name="Upload").click()
    bar = page.locator("#import-bar")
    await expect(bar).to_have_attribute("aria-valuenow", "0")
    await assert_accessible(ana, "38-import-queued", found)
    await worker()
    await expect(bar).to_have_attribute("aria-valuenow", "100")
    await expect(page.locator("#import-status")).to_have_text("Preview ready: 13 rows")
    await expect(page.locator("#import-counts")).to_contain_text("matched to a book")
    await page.get_by_role("button", name="Import for real").click()
    await expect(page.locator("#import-status")).to_contain_text("Waiting to start")
    await worker()
    await expect(page.locator("#import-status")).to_have_text("Done: 13 rows")
    await page.get_by_text("Row by row (13)").click()
    await assert_accessible(ana, "39-import-done", found)
    await page.get_by_role("link", name="My reading").click()
    await expect(page.get_by_role("button", name="Read (6)", exact=True)).to_be_visible()
    await expect(page.locator("#shelf-list")).to_contain_text(book["title"])
    await ana.context.close()
    assert not found, found


def tmp_csv(body: bytes, t: str) -> Path:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"goodreads-{t}.csv"
    path.write_bytes(body)
    return path


async def test_leaderboard_live_recommendations_and_catch_up(
        servers: list[ServerProcess], browser: Any, book: dict[str, Any], worker: Any) -> None:
    """A reader watching the weekly pages board sees another reader (on the other server) climb
    to the top as he finishes a long book; he gets recommendations with their reasons; and
    after stepping out of a session he asks for a catch-up summary of what he missed."""
    t, ana, ben = await two_readers(browser, servers)
    found: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=15) as http:
        author = [f"Ola Brant {t}"]
        tome = await create_book(http, title=f"The Very Long Winter {t}", authors=author,
                                 subjects=["Fiction", "Lighthouses"], page_count=9000 + int(t[-3:]))
        sequel = await create_book(http, title=f"The Thaw {t}", authors=author,
                                   subjects=["Fiction"], page_count=200)
    await ana.page.goto("/app/#/discover")
    await ana.page.get_by_role("link", name="Leaderboards").click()
    board = ana.page.locator("#board")
    await expect(ana.page.get_by_role("button", name="Pages this week")).to_have_attribute(
        "aria-pressed", "true")
    await expect(board.locator(".loading")).to_have_count(0)
    await ben.page.goto(f"/app/#/book/{tome['id']}")
    await ben.page.get_by_label("My shelf").select_option("read")
    await expect(ben.page.get_by_text("Saved: Read")).to_be_visible()
    top = board.locator('#board-rows li').first
    await expect(top).to_contain_text("Ben")
    await expect(top.locator(".rank")).to_have_text("1")
    await assert_accessible(ana, "40-leaderboard-live", found)
    await ana.page.get_by_role("button", name="People I follow").click()
    await expect(board).to_contain_text("Nobody you follow is on this board yet.")
    await ana.page.get_by_role("button", name="Everyone").click()
    await top.get_by_role("link", name="Ben").click()
    await expect(ana.page.locator("#their-reading")).to_contain_text("Ben has read 1 book and")
    await ana.page.get_by_role("button", name="Follow").click()
    await expect(ana.page.get_by_role("button", name="Unfollow")).to_be_visible()
    await ana.page.go_back()
    await ana.page.get_by_role("button", name="People I follow").click()
    await expect(board.locator("#board-rows")).to_contain_text("Ben")

    await ben.page.reload()  # the book page: readers also liked, each with its reason
    similar = ben.page.locator("#similar li", has_text=sequel["title"])
    await expect(similar).to_contain_text(f"also by Ola Brant {t}")
    await similar.get_by_role("link", name=sequel["title"]).click()
    await expect(ben.page.get_by_role("heading", name=sequel["title"])).to_be_visible()
    await ben.page.get_by_role("link", name="Discover").click()
    await expect(ben.page.locator("#for-you .loading, #trending .loading")).to_have_count(0)
    await assert_accessible(ben, "41-discover", found)
    await dark(ben, "41-discover", found)

    await ana.page.goto(f"/app/#/book/{book['id']}")
    await ana.page.get_by_label("Session title").fill(f"Catch-up {t}")
    await ana.page.get_by_role("button", name="Start reading together").click()
    await expect(ana.page.get_by_role("heading", name=f"Catch-up {t}")).to_be_visible()
    session_id = int(ana.page.url.rsplit("/", 1)[1])
    say = ana.page.get_by_label("Message", exact=True)
    await say.fill("The storm starts on the first page")
    await ana.page.get_by_role("button", name="Send").click()
    await ben.page.goto(f"/app/#/session/{session_id}")
    await expect(ben.page.locator("#timeline")).to_contain_text("The storm starts")
    await ben.page.get_by_role("link", name="Home").click()
    for line in ("The keeper lights the lamp at dusk", "A ship is seen far out at sea"):
        await say.fill(line)
        await ana.page.get_by_role("button", name="Send").click()
        await expect(ana.page.locator("#timeline")).to_contain_text(line)
    await ben.page.goto(f"/app/#/session/{session_id}")
    await ben.page.get_by_text("Catch me up on what I missed").click()
    await ben.page.get_by_role("button", name="Catch me up").click()
    await expect(ben.page.locator("#catchup")).to_contain_text("Summarising")
    await worker()
    summary = ben.page.locator("#catchup")
    await expect(summary).to_contain_text("2 messages summarised")
    await expect(summary).to_contain_text("While you were away")
    await assert_accessible(ben, "42-catch-up", found)
    for p in (ana, ben):
        await p.context.close()
    assert not found, found


async def test_a_club_that_asks_first(servers: list[ServerProcess], browser: Any) -> None:
    """In a club that asks first, a reader's request waits for the organiser, who approves it
    from the club page; the reader is then a member."""
    t, ana, ben = await two_readers(browser, servers)
    name = f"Quiet readers {t}"
    await ana.page.goto("/app/#/clubs")
    create = ana.page.get_by_role("form", name="Start a club")
    await create.get_by_label("Club name").fill(name)
    await create.get_by_label("Who can join").select_option("approval")
    await create.get_by_role("button", name="Create club").click()
    await expect(ana.page.get_by_role("heading", name=name)).to_be_visible()
    await expect(ana.page.locator("#requests")).to_contain_text("Nobody is waiting.")
    club_url = ana.page.url.split("/app/", 1)[1]
    await ben.page.goto(f"/app/{club_url}")
    await ben.page.get_by_role("button", name="Ask to join").click()
    await expect(ben.page.get_by_role("button", name="Request sent")).to_be_disabled()
    await ana.page.reload()
    await ana.page.get_by_role("button", name="Approve Ben").click()
    await expect(ana.page.locator("#requests")).to_contain_text("Nobody is waiting.")
    await ben.page.reload()
    await expect(ben.page.get_by_role("button", name="Leave club")).to_be_visible()
    for p in (ana, ben):
        await p.context.close()


async def test_push_on_this_device(servers: list[ServerProcess], browser: Any) -> None:
    """A reader turns on push for her device: the browser answers (here, offline, it cannot
    reach a push service, and the screen says so in words, never "asking" forever); a device
    that receives push is listed and she removes it."""
    t = tag()
    ana = await person(browser, servers[0], "Ana", t)
    found: list[dict[str, Any]] = []
    await ana.page.context.grant_permissions(["notifications"])
    await register(ana)
    page = ana.page
    await page.get_by_role("link", name="Settings").click()
    card = page.locator("#push-devices")
    await expect(card).to_contain_text("No device receives push notifications yet.")
    await page.get_by_role("button", name="Turn on push for this device").click()
    await expect(page.locator("#push-status")).to_have_text(
        re.compile(r"Push is on for this device|could not reach its push service"))
    # a device that does receive push (a subscription saved from elsewhere) is listed
    async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=15) as http:
        r = await http.post("/api/v1/auth/login", json={"email": ana.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        sub = PushEndpoint(port=9).subscription
        r = await http.post("/api/v1/push/subscriptions", json=sub, headers=headers)
        assert r.status_code in (200, 201), r.text
    await page.reload()
    await expect(card).to_contain_text("127.0.0.1")
    await assert_accessible(ana, "settings-push", found)
    await card.get_by_role("button", name="Stop push to 127.0.0.1:9").click()
    await expect(card).to_contain_text("No device receives push notifications yet.")
    assert not found, found


async def test_club_settings_invitation_links_and_paging(servers: list[ServerProcess],
                                                         browser: Any) -> None:
    """An organiser edits her club's settings (a bad time zone is explained under its field)
    and makes it secret, then shares an invitation link: a signed-in reader joins from it, and
    a signed-out one after registering; she makes one a moderator, bans the other and invites
    a reader by handle; the chat opens at its newest messages with "Load earlier" above, and a
    book's reviews page with "Load more"."""
    t, ana, ben = await two_readers(browser, servers)
    cara = await person(browser, servers[1], "Cara", t)
    found: list[dict[str, Any]] = []
    a, b, c = ana.page, ben.page, cara.page
    name = f"Night owls {t}"
    await a.goto("/app/#/clubs")
    create = a.get_by_role("form", name="Start a club")
    await create.get_by_label("Club name").fill(name)
    await create.get_by_role("button", name="Create club").click()
    await expect(a.get_by_role("heading", name=name)).to_be_visible()
    cid = int(a.url.rsplit("/", 1)[1])
    await a.get_by_text("Club settings", exact=True).click()
    settings = a.get_by_role("form", name="Club settings")
    await settings.get_by_label("Time zone").fill("Mars/Olympus")
    await settings.get_by_label("Who can see the club").select_option("secret")
    await settings.get_by_role("button", name="Save settings").click()
    await expect(settings.locator('.field-error[data-for="time_zone"]')).to_contain_text(
        "not a known time zone")
    await settings.get_by_label("Time zone").fill("Europe/Paris")
    await settings.get_by_label("Description").fill("We read after midnight.")
    await settings.get_by_role("button", name="Save settings").click()
    await expect(a.locator("#club-meta")).to_contain_text("secret")
    described = a.get_by_role("paragraph").filter(has_text="We read after midnight.")
    await expect(described).to_be_visible()

    # a chat history longer than one page (50), and a book with more reviews than one page (10)
    review_book = None
    async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=30) as http:
        r = await http.post("/api/v1/auth/login", json={"email": ana.email, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        for i in range(51):
            r = await http.post(f"/api/v1/clubs/{cid}/messages", json={"body": f"owl {i}"},
                                headers=headers)
            assert r.status_code == 201, r.text
        review_book = await create_book(http, title=f"The Owl Tower {t}", authors=["I. Wren"])
        for i in range(11):
            r = await http.post("/api/v1/auth/register", json={
                "email": f"rv{i}{t}@example.test", "handle": f"rv{i}_{t}",
                "display_name": f"Reviewer {i}", "password": PASSWORD})
            auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
            r = await http.put(f"/api/v1/me/books/{review_book['id']}", json={"status": "read"},
                               headers=auth)
            assert r.status_code in (200, 201), r.text
            r = await http.put(f"/api/v1/me/books/{review_book['id']}/review",
                               json={"rating": 4, "body": f"Review number {i}"}, headers=auth)
            assert r.status_code in (200, 201), r.text

    await a.get_by_role("button", name="Make a link").click()
    link = a.locator("#invite-links input").first
    await expect(link).to_have_value(re.compile(r"/app/#/club/\d+\?invite="))
    url = str(await link.input_value())
    await a.get_by_text("Club settings", exact=True).click()
    await expect(a.get_by_label("The club's book (from your shelves)")).to_be_visible()
    await assert_accessible(ana, "37-club-settings-invites", found)
    await dark(ana, "37-club-settings-invites", found)

    # Ben, signed in, opens the link: the secret club is hidden from him but for the invitation
    await b.goto(url.replace(servers[0].base_url, servers[1].base_url))
    await expect(b.get_by_role("heading", name="You're invited to a club")).to_be_visible()
    await assert_accessible(ben, "38-club-invitation", found)
    await b.get_by_role("button", name="Join", exact=True).click()
    await expect(b.get_by_role("heading", name=name)).to_be_visible()
    await expect(b.get_by_role("button", name="Leave club")).to_be_visible()
    chat = b.locator("#club-chat")
    # the chat opens at its newest messages, "Load earlier messages" above them
    await expect(chat.locator('[data-kind="chat"]')).to_have_count(50)
    await expect(chat.locator('[data-kind="chat"]').last).to_have_text(re.compile("owl 50$"))
    await expect(chat.locator('[data-kind="chat"]').first).to_have_text(re.compile("owl 1$"))
    assert await chat.evaluate("el => el.scrollTop + el.clientHeight >= el.scrollHeight - 2")
    earlier = chat.get_by_role("button", name="Load earlier messages")
    await expect(chat.locator("li").first).to_contain_text("Load earlier messages")
    await earlier.click()
    await expect(chat.locator('[data-kind="chat"]')).to_have_count(51)
    await expect(earlier).to_have_count(0)
    await expect(chat.locator('[data-kind="chat"]').first).to_have_text(re.compile("owl 0$"))
    await ben.shot("38-club-chat-earlier")

    # Cara is signed out: the link asks her to sign in first, then she joins
    await c.goto(url.replace(servers[0].base_url, servers[1].base_url))
    await expect(c.locator("#invite-note")).to_be_visible()
    await c.get_by_role("tab", name="Register").click()
    await c.get_by_label("Email").fill(cara.email)
    await c.get_by_label("Handle").fill(cara.handle)
    await c.get_by_label("Display name").fill(cara.name)
    await c.get_by_label("Password").fill(PASSWORD)
    await c.get_by_role("button", name="Create account").click()
    await c.get_by_role("button", name="Join", exact=True).click()
    await expect(c.get_by_role("heading", name=name)).to_be_visible()
    await a.reload()
    await expect(a.locator("#invite-links")).to_contain_text("2 uses")
    # the organiser's members list: Ben becomes a moderator, Cara is banned
    await a.get_by_text(re.compile(r"^Members \(3\)$")).click()
    ben_row = a.locator(f'#members [data-member="{ben.handle}"]')
    await ben_row.get_by_role("button", name="Make moderator").click()
    await expect(ben_row.get_by_role("button", name="Make member")).to_be_visible()
    a.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await a.locator(f'#members [data-member="{cara.handle}"]').get_by_role(
        "button", name="Ban").click()
    await expect(a.locator(f'#members [data-member="{cara.handle}"]')).to_have_count(0)
    # and invites a reader by handle (an unknown handle is explained under the field)
    direct = a.get_by_role("form", name="Invite a reader")
    await direct.get_by_label("Invite a reader by handle").fill(f"nobody_{t}")
    await direct.get_by_role("button", name="Send invitation").click()
    await expect(direct.locator('.field-error[data-for="handle"]')).to_contain_text(
        "Nobody is called")
    await direct.get_by_label("Invite a reader by handle").fill(f"rv0_{t}")
    await direct.get_by_role("button", name="Send invitation").click()
    await expect(a.locator("#toasts")).to_contain_text("Invitation sent to Reviewer 0")
    await assert_accessible(ana, "37-club-members", found)

    assert review_book is not None
    await b.goto(f"/app/#/book/{review_book['id']}")
    reviews = b.locator("#reviews li.review")
    await expect(reviews).to_have_count(10)
    await b.get_by_role("button", name="Load more reviews").click()
    await expect(reviews).to_have_count(11)
    await expect(b.get_by_role("button", name="Load more reviews")).to_have_count(0)
    await assert_accessible(ben, "39-reviews-more", found)
    for p in (ana, ben, cara):
        await p.context.close()
    assert not found, found
