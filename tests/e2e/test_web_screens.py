"""The reading life, reviews, clubs, settings, imports, discovery and leaderboards in real
Chromium, two or three readers against the shared pair of real server processes."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from tests.e2e.browser import assert_accessible, missing, person, register, tag
from tests.support import ServerProcess

REASON = missing()
pytestmark = pytest.mark.skipif(REASON is not None and not os.environ.get("CI"),
                                reason=f"browser e2e skipped: {REASON}")

if REASON is None:
    from playwright.async_api import expect


async def dark(p: Any, screen: str, found: list[dict[str, Any]]) -> None:
    """The same screen in the dark theme: screenshot and axe, then back to light."""
    await p.page.get_by_role("button", name="Dark theme").click()
    await expect(p.page.locator("html")).to_have_attribute("data-theme", "dark")
    await assert_accessible(p, f"{screen}-dark", found)
    await p.page.get_by_role("button", name="Dark theme").click()


async def test_shelves_progress_goal_streak_and_stats(servers: list[ServerProcess], browser: Any,
                                                      book: dict[str, Any]) -> None:
    """A reader shelves a book, updates her progress, sets a goal, finishes the book, and sees
    her streak, goal ring and monthly charts change; a bad goal is explained under its field."""
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
    await page.get_by_role("button", name=re.compile(r"^Read \(1\)")).click()
    await expect(page.locator("#shelf-list")).to_contain_text(book["title"])
    await page.locator("#shelf-list").get_by_label(f"Add {book['title']} to a shelf").fill("Favourites")
    await page.locator("#shelf-list").get_by_role("button", name="Add", exact=True).click()
    await expect(page.get_by_role("button", name="Favourites (1)")).to_be_visible()
    await assert_accessible(ana, "31-reading", found)
    await dark(ana, "31-reading", found)
    await ana.context.close()
    assert not found, found
