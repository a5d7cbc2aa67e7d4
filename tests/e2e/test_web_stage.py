"""The audio stage in real Chromium (fake microphone and permission prompt): the host opens the
stage and speaks, a reader on the other server listens and his inbound audio bytes rise; he
raises a hand, is invited, and speaks back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.e2e.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REASON,
    Person,
    assert_accessible,
    expect,
    person,
    register,
    tag,
)
from tests.support import ServerProcess

if REASON is None:
    from playwright.async_api import async_playwright

    from tests.audio_support import MediaProcess

FAKE_MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              "--autoplay-policy=no-user-gesture-required"]
INBOUND = "() => Number(document.querySelector('#stage')?.dataset.inbound || 0)"


@pytest_asyncio.fixture(scope="module")
async def media(engines: Any, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[Any]:
    """The media process (`readalong media`) on the session's Redis, loopback candidates."""
    proc = await MediaProcess(engines.env(READALONG_MEDIA_HEARTBEAT="0.5"),
                              Path(tmp_path_factory.mktemp("e2e-media"))).start(
        engines.redis_url)
    try:
        yield proc
    finally:
        proc.stop()


@pytest_asyncio.fixture(scope="module")
async def av_browser() -> AsyncIterator[Any]:
    """Chromium with a fake microphone (a beeping tone) and every permission prompt accepted."""
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + FAKE_MEDIA)
        try:
            yield b
        finally:
            await b.close()


async def rising(page: Any, above: int = 0) -> int:
    """Wait until this page's inbound audio passes `above` bytes, and then some more."""
    await page.wait_for_function(f"() => ({INBOUND})() > {above + 2000}", timeout=30_000)
    now = int(await page.evaluate(INBOUND))
    await page.wait_for_function(f"() => ({INBOUND})() > {now + 2000}", timeout=30_000)
    return int(await page.evaluate(INBOUND))


async def with_microphones(av_browser: Any, servers: list[ServerProcess]
                           ) -> tuple[str, Person, Person]:
    """Ana (first server) and Ben (second), registered, each allowed the fake microphone."""
    t = tag()
    ana = await person(av_browser, servers[0], "Ana", t)
    ben = await person(av_browser, servers[1], "Ben", t)
    for p in (ana, ben):
        await p.context.grant_permissions(["microphone"])
        await register(p)
    return t, ana, ben


async def test_the_audio_stage(servers: list[ServerProcess], av_browser: Any, media: Any,
                               book: dict[str, Any]) -> None:
    """A listener's inbound audio bytes rise while the host speaks; invited after raising his
    hand, he speaks and the host's inbound audio rises too."""
    t, ana, ben = await with_microphones(av_browser, servers)
    found: list[dict[str, Any]] = []
    a, b = ana.page, ben.page
    await a.goto(f"/app/#/book/{book['id']}")
    await a.get_by_label("Session title").fill(f"Read aloud {t}")
    await a.get_by_role("button", name="Start reading together").click()
    await expect(a.get_by_role("heading", name=f"Read aloud {t}")).to_be_visible()
    session_id = int(a.url.rsplit("/", 1)[1])
    await a.get_by_role("button", name="Open the audio stage").click()
    await a.get_by_role("button", name="Join the stage").click()
    await expect(a.locator("#stage-speakers")).to_contain_text("You (host)")

    await b.goto(f"/app/#/session/{session_id}")
    await expect(b.locator("#stage-speakers")).to_contain_text("(host)")
    await b.get_by_role("button", name="Listen").click()
    heard = await rising(b)
    await expect(b.locator("#stage-meter")).to_contain_text("Receiving")
    await assert_accessible(ben, "43-stage-listening", found)

    await b.get_by_role("button", name="Raise my hand").click()
    await a.get_by_role("button", name="Invite Ben to speak").click()
    await expect(b.locator("#stage-speakers")).to_contain_text("You")
    await expect(b.get_by_role("button", name="Step down")).to_be_visible()
    await b.wait_for_function("() => /sending [1-9]/.test("
                              "document.querySelector('#stage-meter')?.textContent || '')",
                              timeout=30_000)
    await rising(a)
    await rising(b, heard)
    await assert_accessible(ana, "44-stage-host", found)
    await a.get_by_role("button", name="Close the stage").click()
    await expect(b.locator("#stage-status")).to_have_text("The stage has ended.")
    for p in (ana, ben):
        await p.context.close()
    assert not found, found


async def test_a_club_events_audio_stage(servers: list[ServerProcess], av_browser: Any,
                                         media: Any) -> None:
    """A club organiser opens the audio stage of an event from the club page; a member on the
    other server listens there, and his inbound audio bytes rise, still after he answers the
    event (its redraw keeps the stage open)."""
    t, ana, ben = await with_microphones(av_browser, servers)
    a, b = ana.page, ben.page
    await a.goto("/app/#/clubs")
    create = a.get_by_role("form", name="Start a club")
    await create.get_by_label("Club name").fill(f"Aloud {t}")
    await create.get_by_role("button", name="Create club").click()
    await expect(a.get_by_role("heading", name=f"Aloud {t}")).to_be_visible()
    await a.get_by_text("Plan an event").click()
    plan = a.get_by_role("form", name="Plan an event")
    await plan.get_by_label("Event title").fill(f"Reading night {t}")
    await plan.get_by_role("button", name="Create event").click()
    event = a.locator("#events li[data-event]")
    await event.get_by_text("Audio stage").click()
    await event.get_by_role("button", name="Open the audio stage").click()
    await event.get_by_role("button", name="Join the stage").click()
    await expect(event.locator("#stage-speakers")).to_contain_text("You (host)")

    await b.goto(a.url.replace(servers[0].base_url, servers[1].base_url))
    await b.get_by_role("button", name="Join club").click()
    theirs = b.locator("#events li[data-event]")
    await theirs.get_by_text("Audio stage").click()
    await expect(theirs.locator("#stage-speakers")).to_contain_text("Ana (host)")
    await theirs.get_by_role("button", name="Listen").click()
    heard = await rising(b)
    await ben.shot("45-club-event-stage")
    # answering the event redraws the events: the stage stays open, and he keeps listening
    await theirs.get_by_role("button", name="Going").click()
    await expect(theirs.locator("[data-counts]")).to_contain_text("1 going")
    await expect(theirs.locator("#stage-speakers")).to_contain_text("Ana (host)")
    await rising(b, heard)
    for p in (ana, ben):
        await p.context.close()
