"""A bounded schemathesis run against the served OpenAPI document: zero server errors, and
every response conforms to the documented statuses, content types and schemas."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from domain.accounts.tokens import issue_access_token
from domain.settings import DEFAULT_SECRET_KEY
from server.engines import EmbeddedEngines
from tests.accounts_helpers import register
from tests.fixture_helpers import copy_pg_folder
from tests.support import ROOT, ServerProcess, server_env
from tests.test_sessions_helpers import db_exec, live_session, make_book

SEED = 20261201
MAX_EXAMPLES = int(os.environ.get("READALONG_FUZZ_EXAMPLES", "12"))
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")
# these two revoke the caller's tokens, which would turn the rest of the run into 401s
EXCLUDED = r"^/api/v1/(auth/logout-all|me/password)$"


@dataclass
class Target:
    server: ServerProcess
    token: str
    known: dict[str, object]  # path parameters naming things that exist


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory, pg_template: Path
                ) -> Iterator[Target]:
    """A server on engines of its own (the fuzzer's books and sessions stay out of the shared
    database) and an admin's bearer token, with a book and a live session to find."""
    data = tmp_path_factory.mktemp("fuzz")
    copy_pg_folder(pg_template, data)  # migrated to head
    engines = EmbeddedEngines(data, pg_options={"fsync": "off", "synchronous_commit": "off"},
                              persist_redis=False)
    db_url, redis_url = engines.start()
    proc = None
    try:
        proc = ServerProcess(server_env(db_url, redis_url, READALONG_REGISTER_RATE="100000",
                                        READALONG_LOGIN_RATE="100000",
                                        READALONG_REGISTER_FAILURE_RATE="100000"),
                             log_dir=data).start()

        async def prepare(server: ServerProcess) -> Target:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                admin = await register(http, "fuzzadmin", prefix="f")
                reader = await register(http, "fuzzreader", prefix="f")
                await db_exec(db_url, "UPDATE users SET role = 'admin' WHERE id = $1", admin.id)
                book = await make_book(db_url, "Fuzzed book")
                session = await live_session(http, admin, book)
                token, _ = issue_access_token(DEFAULT_SECRET_KEY, admin.id, "admin", 3600)
                return Target(server, token, {"path.session_id": session["id"],
                                              "path.book_id": book, "path.user_id": reader.id,
                                              "path.handle": reader.handle})

        yield asyncio.run(prepare(proc))
    finally:
        if proc is not None:
            proc.stop()
        engines.stop()


@pytest.mark.timeout(240)  # the suite's 120 s is for one scenario; this is a bounded run
@pytest.mark.parametrize("pass_", ["generated ids", "known ids"])
def test_fuzzing_the_openapi_document_finds_no_server_error(
        fuzz_target: Target, tmp_path: Path, pass_: str) -> None:
    """schemathesis (fixed seed, bounded examples per operation, an admin's bearer token)
    finds no 5xx and no response outside the documented statuses, content types and schemas
    on any operation of `/docs/openapi.json`: once with the ids it generates, once with the
    path ids of a live session, its book and a reader that exist (to reach past the 404s)."""
    config = tmp_path / "schemathesis.toml"
    known = pass_ == "known ids"
    # no cache: a run must not replay what an earlier run stored (nor write into the checkout)
    config.write_text("[cache]\nenabled = false\n\n" + ("[parameters]\n" + "".join(
        f'"{key}" = {json.dumps(value)}\n' for key, value in fuzz_target.known.items())
        if known else ""))
    examples = MAX_EXAMPLES // 2 if known else MAX_EXAMPLES
    phases = "fuzzing" if known else "examples,coverage,fuzzing"  # coverage: once is enough
    base_url = fuzz_target.server.base_url
    args = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
            f"{base_url}/docs/openapi.json",
            "--checks", CHECKS, "--seed", str(SEED), "--max-examples", str(examples),
            # one worker: reproducible for the seed, and CPython 3.11's ast.parse (hypothesis
            # describes its lambdas with it) is not thread-safe
            "--phases", phases, "--workers", "1", "--no-shrink",
            "--header", f"Authorization: Bearer {fuzz_target.token}",
            "--exclude-path-regex", EXCLUDED,
            "--request-timeout", "20", "--suppress-health-check", "all",
            "--report", "junit", "--report-dir", str(tmp_path)]
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=230,
                         env={**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"})
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:]
