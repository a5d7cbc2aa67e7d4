"""Log lines of authenticated REST requests name the caller's user id."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from tests.accounts_helpers import register
from tests.conftest import Engines
from tests.support import ServerProcess, eventually


def test_access_lines_name_the_authenticated_user(engines: Engines, tmp_path: Path) -> None:
    """On a server logging JSON at INFO, the access line of `GET /me` carries the caller's
    `user_id` and its request id; an anonymous request's line carries no user id."""
    proc = ServerProcess(engines.env(READALONG_LOG_LEVEL="INFO", READALONG_LOG_FORMAT="json"),
                         log_dir=tmp_path).start()
    try:
        async def scenario() -> None:
            async with httpx.AsyncClient(base_url=proc.base_url, timeout=15) as http:
                user = await register(http, "logs", prefix="lg")
                r = await http.get("/api/v1/me", headers={**user.headers,
                                                          "X-Request-ID": "mine-1"})
                assert r.status_code == 200
                r = await http.get("/api/v1/books", headers={"X-Request-ID": "anon-1"})
                assert r.status_code == 200

                def lines() -> list[dict[str, object]]:
                    assert proc.log_path is not None
                    out = []
                    for raw in proc.log_path.read_text().splitlines():
                        if raw.startswith("{"):
                            out.append(json.loads(raw))
                    return out

                async def logged() -> list[dict[str, object]]:
                    return [e for e in lines() if e.get("logger") == "readalong.access"
                            and e.get("request_id") in ("mine-1", "anon-1")]

                access = await eventually(lambda: _two(logged), timeout=10)
                by_id = {e["request_id"]: e for e in access}
                assert by_id["mine-1"]["user_id"] == user.id
                assert by_id["mine-1"]["path"] == "/api/v1/me"
                assert "user_id" not in by_id["anon-1"]

        asyncio.run(scenario())
    finally:
        proc.stop()


async def _two(source):  # type: ignore[no-untyped-def]
    found = await source()
    return found if len(found) >= 2 else None
