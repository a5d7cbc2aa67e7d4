"""E2E support: Debian's Chromium driven by Playwright, screenshots, axe-core checks."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "e2e"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("READALONG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse battery staple"
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
