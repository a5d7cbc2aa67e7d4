"""REST controllers of avatars: upload/remove one's own, and serve them with caching headers."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body

from domain.accounts import avatars
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Invalid, NotFound
from domain.settings import Settings

ONE_YEAR = 31_536_000


class AvatarOut(msgspec.Struct):
    avatar_url: str


class AvatarForm(msgspec.Struct):
    file: UploadFile


class MyAvatarController(Controller):
    path = "/api/v1/me/avatar"
    tags = ["accounts"]

    @put("", status_code=200,
         summary="Upload a profile picture (multipart `file`: JPEG, PNG, WebP or GIF)")
    async def upload(self, db: Database, settings: Settings, user: Principal,
                     data: Annotated[AvatarForm, Body(
                         media_type=RequestEncodingType.MULTI_PART)]) -> AvatarOut:
        if not isinstance(data.file, UploadFile):
            raise Invalid("send the image as the multipart field `file`", code="avatar_invalid",
                          field="file")
        content = await data.file.read(settings.avatar_max_bytes + 1)
        return AvatarOut(avatar_url=await avatars.upload(db, settings, user.user_id, content))

    @delete("", summary="Remove the profile picture")
    async def remove(self, db: Database, settings: Settings, user: Principal) -> None:
        await avatars.remove(db, settings, user.user_id)


class AvatarFilesController(Controller):
    path = "/api/v1/avatars"
    tags = ["accounts"]

    @get("/{user_id:int}/{key:str}/{name:str}",
         summary="An avatar image, `<size>.png` (immutable: a new avatar gets a new URL)")
    async def serve(self, settings: Settings, user_id: int, key: str,
                    name: str) -> Response[bytes]:
        stem, _, ext = name.partition(".")
        if ext != "png" or not stem.isdigit() or len(stem) > 4:
            raise NotFound("no such avatar", code="avatar_not_found")
        size = int(stem)
        data = await avatars.image(settings, user_id, key, size)
        return Response(data, media_type="image/png", headers={
            "Cache-Control": f"public, max-age={ONE_YEAR}, immutable",
            "ETag": f'"{key}-{size}"', "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'"})


CONTROLLERS = [MyAvatarController, AvatarFilesController]
