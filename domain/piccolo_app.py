"""piccolo's app config: our tables and the top-level migrations/ folder."""

from __future__ import annotations

from pathlib import Path

from piccolo.conf.apps import AppConfig

from domain.registry import TABLES

APP_CONFIG = AppConfig(
    app_name="readalong",
    migrations_folder_path=str(Path(__file__).resolve().parent.parent / "migrations"),
    table_classes=list(TABLES),
    migration_dependencies=[],
    commands=[],
)
