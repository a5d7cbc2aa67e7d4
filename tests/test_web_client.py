"""The browser client's contracts: its REST calls exist in the served OpenAPI document, its socket
commands in the AsyncAPI one, and it loads nothing from another origin."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.support import ServerProcess

WEB = Path(__file__).resolve().parent.parent / "web"
PATH = re.compile(r'"(/api/v1/[^"?]+)"')


def client_paths() -> set[str]:
    text = (WEB / "js" / "api.js").read_text()
    return set(PATH.findall(text))


def normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


async def test_every_rest_path_the_client_calls_is_in_the_openapi_document(
        server: ServerProcess) -> None:
    """A path the app calls that the server does not serve would break a screen: none may."""
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        r = await http.get("/docs/openapi.json")
        if r.status_code != 200:
            r = await http.get("/schema/openapi.json")
        doc = r.json()
    served = {normalise(p) for p in doc["paths"]}
    paths = client_paths()
    assert len(paths) >= 30, paths
    missing = sorted(p for p in paths if normalise(p) not in served)
    assert not missing, f"the client calls paths the server does not document: {missing}"


async def test_the_socket_commands_the_client_sends_are_in_the_asyncapi_document(
        server: ServerProcess) -> None:
    """The socket client speaks the documented protocol: each command type it sends exists."""
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        doc = (await http.get("/asyncapi.json")).text
    sources = "".join(p.read_text() for p in (WEB / "js").rglob("*.js"))
    sent = set(re.findall(r'type: "(\w+)"', sources))
    for command in {"auth", "subscribe", "unsubscribe", "publish", "presence"}:
        assert command in sent, command
        assert f'"{command}"' in doc, command
    # the session room's payloads are documented once the room kinds list them (discussion)
    for payload in {"chat", "react", "annotate", "shield"}:
        assert payload in sent, payload
        if '"idempotency_key"' in doc:
            assert payload in doc, payload


def test_the_app_loads_nothing_from_another_origin() -> None:
    """No CDN, ever: every script, style, font and image the app references is same-origin."""
    for path in [WEB / "index.html", WEB / "style.css", *(WEB / "js").rglob("*.js")]:
        text = path.read_text()
        assert not re.search(r"https?://", text), f"{path.name} references another origin"
        assert "//cdn" not in text and "@import" not in text, path.name


async def test_the_app_shell_and_its_modules_are_served(server: ServerProcess) -> None:
    """`/app/` serves the shell (so does the identity providers' redirect URI,
    `/app/oidc-callback`), and every module it imports answers 200 as JavaScript."""
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        shell = await http.get("/app/")
        assert shell.status_code == 200 and 'src="/app/js/main.js"' in shell.text
        back = await http.get("/app/oidc-callback", params={"code": "c", "state": "s"})
        assert back.status_code == 200 and back.text == shell.text
        assert back.headers["content-type"].startswith("text/html")
        for module in sorted((WEB / "js").rglob("*.js")):
            rel = module.relative_to(WEB).as_posix()
            r = await http.get(f"/app/{rel}")
            assert r.status_code == 200, rel
            assert "javascript" in r.headers["content-type"], (rel, r.headers["content-type"])
