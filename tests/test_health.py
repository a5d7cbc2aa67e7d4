"""The service surface: health probes, problem details, headers, docs."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.fixture_helpers import own_stack


async def test_live_and_ready_answer_ok(http: httpx.AsyncClient) -> None:
    """Both probes answer 200 when Postgres and Redis are up."""
    assert (await http.get("/health/live")).json()["status"] == "ok"
    ready = await http.get("/health/ready")
    assert ready.status_code == 200
    checks = {c["name"]: c["ok"] for c in ready.json()["checks"]}
    assert {k: v for k, v in checks.items() if k != "worker"} == {"postgres": True,
                                                                  "redis": True}


async def test_unknown_route_is_problem_details(http: httpx.AsyncClient) -> None:
    """A 404 comes back as application/problem+json with status, title and a request id."""
    r = await http.get("/api/v1/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 404 and body["code"] == "not_found"
    assert body["request_id"] == r.headers["x-request-id"]


async def test_security_headers_and_request_id(http: httpx.AsyncClient) -> None:
    """Every response carries nosniff, frame denial and echoes a caller's request id."""
    r = await http.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


async def test_openapi_and_docs_page(http: httpx.AsyncClient) -> None:
    """The OpenAPI 3.1 document and the interactive docs page are served."""
    spec = (await http.get("/docs/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    page = await http.get("/docs/")
    assert page.status_code == 200 and "<html" in page.text.lower()


async def test_metrics_exposed(http: httpx.AsyncClient) -> None:
    """Prometheus metrics are served in the text exposition format."""
    await http.get("/health/live")
    r = await http.get("/metrics")
    assert r.status_code == 200
    assert "readalong_requests_total" in r.text


def test_ready_is_503_naming_redis_when_redis_is_down(tmp_path: Path, pg_template: Path) -> None:
    """With Redis stopped, /health/ready answers 503 and names the failing check."""
    with own_stack(tmp_path, pg_template) as (engines, _db_url, proc):
        engines.redis.stop()
        r = httpx.get(proc.base_url + "/health/ready", timeout=15)
        assert r.status_code == 503
        body = r.json()
        assert "redis" in body["status"]
        assert {c["name"]: c["ok"] for c in body["checks"]}["redis"] is False
        engines.redis.start()
        for _ in range(100):
            if httpx.get(proc.base_url + "/health/ready", timeout=15).status_code == 200:
                break
            import time

            time.sleep(0.1)
        assert httpx.get(proc.base_url + "/health/ready", timeout=15).status_code == 200
