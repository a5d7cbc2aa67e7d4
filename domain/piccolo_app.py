"""piccolo's app config: the top-level migrations/ folder (SQL migrations; no Table classes)."""

from __future__ import annotations

from pathlib import Path

from piccolo.conf.apps import AppConfig

APP_CONFIG = AppConfig(
    app_name="readalong",
    migrations_folder_path=str(Path(__file__).resolve().parent.parent / "migrations"),
    table_classes=[],
    migration_dependencies=[],
    commands=[],
)
