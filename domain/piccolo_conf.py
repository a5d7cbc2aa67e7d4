"""Configuration piccolo's own tooling reads (PICCOLO_CONF=domain.piccolo_conf).

The running app does not use this engine: it builds its own from Settings. This one exists for
`readalong migrate` and piccolo's CLI.
"""

from __future__ import annotations

import os

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

DB = PostgresEngine(config={"dsn": os.environ.get("DATABASE_URL", "postgresql://localhost/readalong")})

APP_REGISTRY = AppRegistry(apps=["domain.piccolo_app"])
