"""The e2e fixtures every browser test module shares (one pair of servers, one Chromium, one
book), and the figures (first-load size, time to interactive) printed at the end of the run."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.accounts_idp import CLIENT_ID, CLIENT_SECRET, Provider, running_provider
from tests.catalog_helpers import create_book
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, FIGURES, needs_browser
from tests.support import ServerProcess, free_port
from tests.worker_helpers import run_worker, smtp_server, worker_settings

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of this folder needs the browser (skipped with the reason without it)."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(needs_browser)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("browser client figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def idp() -> Iterator[Provider]:
    """The local OpenID provider stand-in the servers offer as "Sign in with Lantern ID"."""
    with running_provider() as provider:
        yield provider


@pytest.fixture(scope="session")
def servers(engines: Any, idp: Provider,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    """Two server processes on one PostgreSQL and Redis; each allows both pages' origins (by
    IP and as localhost), signs in with the local identity provider (which sends the browser
    back to that server) and takes passkeys made on its localhost origin."""
    ports = [free_port(), free_port()]
    origins = ",".join(f"http://{host}:{p}" for p in ports for host in ("127.0.0.1", "localhost"))
    logs = tmp_path_factory.mktemp("e2e-logs")
    env = engines.env(READALONG_REGISTER_RATE="100000", READALONG_LOGIN_RATE="100000",
                      READALONG_ALLOWED_ORIGINS=origins, READALONG_OIDC_PROVIDERS="lantern",
                      READALONG_OIDC_LANTERN_ISSUER=idp.issuer,
                      READALONG_OIDC_LANTERN_CLIENT_ID=CLIENT_ID,
                      READALONG_OIDC_LANTERN_CLIENT_SECRET=CLIENT_SECRET,
                      READALONG_OIDC_LANTERN_LABEL="Lantern ID")
    # passkeys need a domain as relying-party id (not an IP): they are used from localhost
    procs = [ServerProcess({**env, "READALONG_OIDC_LANTERN_REDIRECT_URI":
                            f"http://127.0.0.1:{p}/app/oidc-callback",
                            "READALONG_WEBAUTHN_RP_ID": "localhost",
                            "READALONG_WEBAUTHN_ORIGIN": f"http://localhost:{p}"},
                           port=p, log_dir=logs)
             for p in ports]
    try:
        for p in procs:
            p.start()
        yield procs
    finally:
        for p in procs:
            p.stop()


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest_asyncio.fixture(scope="session")
async def book(servers: list[ServerProcess]) -> dict[str, Any]:
    """A book with a table of contents of eight chapters, unique to this run."""
    stamp = f"{int(time.time() * 1000) % 10**8}"
    async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=15) as http:
        return await create_book(
            http, title=f"The Lantern Keeper {stamp}", authors=["Mara Ellison"],
            subjects=["Fiction", "Lighthouses"], language="en", published="1911", page_count=320,
            description="A keeper, a storm and a letter that arrives too late.",
            toc=[{"title": f"Chapter {i + 1}", "start": i / 8} for i in range(8)])


@pytest_asyncio.fixture(scope="session")
async def worker(engines: Any) -> AsyncIterator[Callable[[], Awaitable[Any]]]:
    """Run the real arq worker until its queue is empty, mailing through a local SMTP server (the
    sign-up emails of every reader the tests register are delivered, not retried)."""
    async with smtp_server() as (_box, port):
        settings = worker_settings(engines, READALONG_SMTP_PORT=str(port))

        async def run() -> Any:
            return await run_worker(settings)

        yield run
