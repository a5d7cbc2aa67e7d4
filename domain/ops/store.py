"""Where metric values live: in memory (one process) or in prometheus_client's multiprocess
folder, shared by every process of one host.

`readalong serve` makes a fresh folder per run (`prepare_store`, wiping the previous run's
files, which would otherwise add stale counts) and exports PROMETHEUS_MULTIPROC_DIR before
uvicorn starts its workers and the supervised arq worker; each process then calls
`activate_store()` before it creates any metric, writes its values to its own files there, and
a scrape of any process merges every file (`collect_registry()`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, values

from domain.settings import Settings

ENV = "PROMETHEUS_MULTIPROC_DIR"


def store_dir() -> str | None:
    """The shared folder when multiprocess mode is on, else None."""
    return os.environ.get(ENV) or os.environ.get(ENV.lower()) or None


def metrics_path(settings: Settings) -> Path:
    """READALONG_METRICS_DIR, else `<data dir>/metrics`."""
    return Path(settings.metrics_dir) if settings.metrics_dir else settings.data_path / "metrics"


def prepare_store(path: Path) -> Path:
    """Empty (or create) `path` and export it to this process and its children."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ[ENV] = str(path)
    return path


def activate_store() -> bool:
    """Switch this process's metric values to the shared folder if one is exported (also when
    prometheus_client was imported before the variable was set). True when multiprocess."""
    folder = store_dir()
    if folder is None:
        return False
    Path(folder).mkdir(parents=True, exist_ok=True)
    if getattr(values.ValueClass, "__name__", "") != "MmapedValue":
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    return True


def collect_registry() -> CollectorRegistry:
    """What a scrape reports: every process's files merged, or this process's registry."""
    if store_dir() is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def mark_dead(pid: int | None = None) -> None:
    """Drop a finished process's live gauges (its counters stay in the sums)."""
    if store_dir() is not None:
        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]
