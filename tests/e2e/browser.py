"""E2E support: Debian's Chromium driven by Playwright, screenshots, axe-core checks."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "e2e"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("READALONG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse battery staple"
#: Playwright's actions and assertions wait this long (ms): a first page load on a cold fresh
#: clone (Chromium start, server warm-up) can take longer than the 5 s assertion default.
TIMEOUT = 15_000
#: Lines printed in the terminal summary (tests/e2e/conftest.py).
FIGURES: list[str] = []


def missing() -> str | None:
    """Why the e2e tests cannot run here (None when they can)."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return (f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` to run the browser "
                "tests (.ci/run installs it)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not AXE.exists():
        return "web/node_modules is missing: run `make web` (npm ci) first"
    return None


REASON = missing()
#: The mark of every browser test module: skipped (with the reason) without Chromium, Playwright
#: or axe-core; with `CI` set they run, and fail, instead.
needs_browser = pytest.mark.skipif(REASON is not None and not os.environ.get("CI"),
                                   reason=f"browser e2e skipped: {REASON}")


@dataclass
class Person:
    """One reader in their own browser context."""

    name: str
    handle: str
    email: str
    context: Any
    page: Any
    base_url: str

    async def shot(self, step: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{step}-{self.name.lower()}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def axe(self, screen: str) -> list[dict[str, Any]]:
        """Serious or critical axe-core violations on the current screen (empty = pass)."""
        await self.page.add_script_tag(path=str(AXE))
        result = await self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))")
        return [dict(v, screen=screen) for v in result]


def _expect() -> Any:
    from playwright.async_api import expect
    expect.set_options(timeout=TIMEOUT)
    return expect


#: Playwright's `expect` (with the e2e timeout), for every module; None when it cannot run.
expect: Any = _expect() if REASON is None else None


async def person(browser: Any, server: ServerProcess, name: str, tag: str,
                 phone: bool = False) -> Person:
    """A reader in a new browser context (a phone-sized one when `phone`)."""
    size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 860}
    context = await browser.new_context(base_url=server.base_url, viewport=size)
    context.set_default_timeout(TIMEOUT)
    page = await context.new_page()
    page.on("console", lambda m: print(f"[{name} console] {m.type}: {m.text}"))
    page.on("pageerror", lambda e: print(f"[{name} pageerror] {e}"))
    # the console names a failed answer's status only: say which request it was
    page.on("response", lambda r: r.status >= 400 and print(
        f"[{name} http] {r.status} {r.request.method} {r.url.removeprefix(server.base_url)}"))
    handle = f"{name.lower()}{tag}"[:30]
    return Person(name, handle, f"{handle}@example.test", context, page, server.base_url)


async def register(p: Person) -> None:
    """Register through the sign-in screen and wait for home and a live socket."""
    expect = _expect()
    await p.page.goto("/app/")
    await p.page.get_by_role("tab", name="Register").click()
    await p.page.get_by_label("Email").fill(p.email)
    await p.page.get_by_label("Handle").fill(p.handle)
    await p.page.get_by_label("Display name").fill(p.name)
    await p.page.get_by_label("Password").fill(PASSWORD)
    await p.page.get_by_role("button", name="Create account").click()
    await expect(p.page.get_by_role("heading", name="Home")).to_be_visible()
    await expect(p.page.locator("#conn")).to_have_attribute("data-state", "online")


async def start_session(p: Person, book_id: int, title: str) -> int:
    """Open the book, start a session titled `title` and wait for its room; its id."""
    expect = _expect()
    await p.page.goto(f"/app/#/book/{book_id}")
    await p.page.get_by_label("Session title").fill(title)
    await p.page.get_by_role("button", name="Start reading together").click()
    await expect(p.page.get_by_role("heading", name=title)).to_be_visible()
    return int(p.page.url.rsplit("/", 1)[1])


async def assert_accessible(p: Person, screen: str, found: list[dict[str, Any]]) -> None:
    """Screenshot the screen and collect its serious/critical axe violations into `found`."""
    await p.shot(screen)
    found.extend(await p.axe(screen))


def tag() -> str:
    """A suffix that makes handles and titles unique to this run."""
    return f"{int(time.time() * 1000) % 10**7}"


async def two_readers(browser: Any, servers: list[ServerProcess],
                      phone: bool = False) -> tuple[str, Person, Person]:
    """Ana on the first server and Ben (on a phone when `phone`) on the second, registered."""
    t = tag()
    ana = await person(browser, servers[0], "Ana", t)
    ben = await person(browser, servers[1], "Ben", t, phone=phone)
    for p in (ana, ben):
        await register(p)
    return t, ana, ben


async def dark(p: Person, screen: str, found: list[dict[str, Any]]) -> None:
    """The same screen in the dark theme: screenshot and axe, then back to light."""
    await p.page.get_by_role("button", name="Dark theme").click()
    await expect(p.page.locator("html")).to_have_attribute("data-theme", "dark")
    await assert_accessible(p, f"{screen}-dark", found)
    await p.page.get_by_role("button", name="Dark theme").click()
