"""The API docs work offline: `/docs` names no other host and its assets are served here."""

from __future__ import annotations

import re

import httpx


async def test_docs_page_serves_its_viewer_without_external_urls(
        http: httpx.AsyncClient) -> None:
    """`/docs` is the Swagger UI page with no URL of another host in it (not even in its
    inline document), and every script, stylesheet and icon it references answers 200 from
    this server with a fitting content type."""
    r = await http.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "SwaggerUIBundle" in page
    assert not re.search(r"(?i)(https?:)?//[a-z0-9-]+\.[a-z]", page), \
        re.search(r"(?i)(https?:)?//[a-z0-9-]+\.[a-z].{0,60}", page)
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert len(assets) >= 4, assets
    kinds = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
    for url in assets:
        assert url.startswith("/"), url
        asset = await http.get(url)
        assert asset.status_code == 200, url
        expected = next(v for k, v in kinds.items() if url.endswith(k))
        assert expected in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > 100
    csp = r.headers["content-security-policy"]
    assert "cdn." not in csp and "googleapis" not in csp


async def test_docs_assets_outside_the_viewer_are_not_served(http: httpx.AsyncClient) -> None:
    """Only the viewer's own files are served: another name under the assets path is 404."""
    for name in ("swagger-editor-bundle.js", "..%2Fcore.py", "LICENSE"):
        r = await http.get(f"/static/swagger-ui/{name}")
        assert r.status_code == 404, name


async def test_openapi_declares_bearer_auth_and_problem_errors(http: httpx.AsyncClient) -> None:
    """The served document declares the bearer scheme; an operation that needs a login
    requires it, one that works anonymously makes it optional, a public one names none; every
    /api/v1 operation documents its error statuses with the problem-details body."""
    doc = (await http.get("/docs/openapi.json")).json()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "The access token from register, login or refresh"}
    paths = doc["paths"]
    assert paths["/api/v1/me"]["get"]["security"] == [{"bearer": []}]
    assert paths["/api/v1/sessions/{session_id}"]["get"]["security"] == [{}, {"bearer": []}]
    assert "security" not in paths["/api/v1/auth/login"]["post"]
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code", "instance"} <= set(problem["required"])
    count = 0
    for path, item in paths.items():
        if not path.startswith("/api/v1/"):
            continue
        for method, op in item.items():
            errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
            assert "503" in errors and "400" in errors, (method, path)
            for status, response in errors.items():
                (media, content), = response["content"].items()
                if media == "application/problem+json":
                    assert content["schema"] == {"$ref": "#/components/schemas/Problem"}
                else:
                    assert media == "text/html" and path.endswith("/unsubscribe"), (path, status)
            if "{" in path:
                assert "404" in errors, (method, path)
            count += 1
    assert count >= 60
    messages = paths["/api/v1/sessions/{session_id}/messages"]["post"]["responses"]
    assert {"401", "403", "404", "409", "422", "503"} <= set(messages)
    assert "429" in paths["/api/v1/auth/register"]["post"]["responses"]
