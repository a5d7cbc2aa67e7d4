"""The API docs viewer (`/docs`): Swagger UI served from the `swagger-ui-py` package's files,
so the page works offline and names no other host."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from litestar import get
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.response import File

ASSETS_PATH = "/static/swagger-ui"
# the package's folder, found without importing it (its Jinja2 templating: ~60 ms per start)
_SPEC = find_spec("swagger_ui")
assert _SPEC is not None and _SPEC.origin is not None, "swagger-ui-py is not installed"
ASSETS_DIR = Path(_SPEC.origin).resolve().parent / "static"
#: The files the page loads (the package ships more, e.g. the editor; those stay unserved).
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


@get(ASSETS_PATH + "/{name:str}", include_in_schema=False, cache=False)
async def docs_asset(name: str) -> File:
    """One file of the docs viewer, cached by browsers for a day."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFoundException(f"no docs asset {name!r}")
    return File(path=ASSETS_DIR / name, media_type=media_type, content_disposition_type="inline",
                headers={"Cache-Control": "public, max-age=86400"})


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """`/docs` (and `/docs/swagger`) render Swagger UI; `/docs/openapi.json` the document."""
    return [
        SwaggerRenderPlugin(
            path=["/", "/swagger"],
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
        ),
        JsonRenderPlugin(path="/openapi.json"),
    ]
