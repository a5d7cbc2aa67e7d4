"""Where a backup lives: a local folder, or an S3-compatible bucket (`s3://bucket/prefix`).

A backup is always made in a local staging folder first (pg_dump writes a file); for a bucket
its files are then uploaded, the manifest LAST, so a half-uploaded backup has no manifest and
`restore` refuses it. A restore from a bucket downloads the manifest, then every file it
lists, into a temporary folder, and checks each checksum there before touching anything.

Avatars kept on local disk (READALONG_AVATAR_STORE=local) go into the backup under
`avatars/` (they would be lost with the data folder); avatars in S3 stay in their bucket,
which is its own durable store, and the manifest says so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from domain.ops.backup import MANIFEST, BackupError
from domain.settings import Settings
from domain.storage import LocalStorage, Storage, StorageError, check_key, store_at

AVATARS = "avatars"


def is_remote(where: str) -> bool:
    return where.startswith("s3://")


def copy_avatars_in(settings: Settings, folder: Path) -> str:
    """Local avatars into `folder/avatars`; what the manifest says about avatars."""
    if settings.avatar_store != "local":
        return "kept in their S3 bucket (not copied)"
    source = settings.data_path / AVATARS
    if source.is_dir():
        shutil.copytree(source, folder / AVATARS, ignore=shutil.ignore_patterns(".*"))
    return "copied from the data folder"


def copy_avatars_out(settings: Settings, folder: Path) -> int:
    """A backup's avatars back into the data folder (local store only); the file count."""
    source = folder / AVATARS
    if settings.avatar_store != "local" or not source.is_dir():
        return 0
    shutil.copytree(source, settings.data_path / AVATARS, dirs_exist_ok=True)
    return sum(1 for p in source.rglob("*") if p.is_file())


def files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


async def check_empty(settings: Settings, where: str) -> None:
    """Refuse (before any dump is made) a bucket prefix that already holds files."""
    store = store_at(settings, where)
    try:
        if await store.list(""):
            raise BackupError(f"{store.describe()} is not empty")
    except StorageError as exc:
        raise BackupError(f"cannot reach {store.describe()}: {exc}") from exc


async def upload(settings: Settings, folder: Path, where: str) -> Storage:
    """Every staged file to `where`, the manifest last."""
    await check_empty(settings, where)
    store = store_at(settings, where)
    try:
        for path in files_of(folder):
            await store.put_file(str(path.relative_to(folder)), path)
        await store.put_file(MANIFEST, folder / MANIFEST)
    except StorageError as exc:
        raise BackupError(f"upload to {store.describe()} failed: {exc}") from exc
    return store


async def download(settings: Settings, where: str, folder: Path) -> None:
    """The manifest and every file it names from `where` into `folder` (then `verify`)."""
    store = store_at(settings, where)
    try:
        if not await store.get_file(MANIFEST, folder / MANIFEST):
            raise BackupError(f"{store.describe()} has no {MANIFEST}: not a finished backup")
        names = json.loads((folder / MANIFEST).read_text()).get("files", {})
        for name in names:
            try:
                target = folder / check_key(name)  # no `..`, no absolute names
            except ValueError as exc:
                raise BackupError(f"the manifest names a bad file: {name[:80]!r}") from exc
            target.parent.mkdir(parents=True, exist_ok=True)
            if not await store.get_file(name, target):
                raise BackupError(f"{name} is missing from {store.describe()}")
    except StorageError as exc:
        raise BackupError(f"download from {store.describe()} failed: {exc}") from exc


def describe(settings: Settings, where: str) -> str:
    return store_at(settings, where).describe() if is_remote(where) \
        else LocalStorage(Path(where)).describe()

