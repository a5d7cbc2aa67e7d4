"""Dependencies of a request resolved one after another, not in an anyio task group per batch.

Litestar resolves the dependencies of one level of the graph concurrently: a handler taking
`db`, `redis`, `settings` and `user` opens a task group and starts four tasks on every request
(~50-180 µs of CPU, more than the rest of the resolution). Ours (server/deps.py) are lookups on
the app's services, and the caller's token check (one Redis round trip), so concurrency saves no
time: we await them in order. An error raises as it did (Litestar re-raised the first one out
of the task group), and generator dependencies still register their clean-up.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

log = logging.getLogger("readalong.server")

try:  # Litestar's private modules: another release may move them (then its own way stays)
    from litestar._kwargs.cleanup import DependencyCleanupGroup
    from litestar._kwargs.dependencies import resolve_dependency
    from litestar._kwargs.kwargs_model import KwargsModel
except ImportError:  # pragma: no cover - depends on the installed Litestar
    KwargsModel = None


async def _resolve_in_order(self: KwargsModel, connection: Any,
                            kwargs: dict[str, Any]) -> DependencyCleanupGroup:
    cleanup_group = DependencyCleanupGroup()
    for batch in self.dependency_batches:
        for dependency in batch:
            await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    return cleanup_group


def _fits() -> bool:
    """The installed Litestar has the shape this replacement was written against (2.x: a
    `dependency_batches` slot and `resolve_dependency(dependency, connection, kwargs,
    cleanup_group)`)."""
    if KwargsModel is None or "dependency_batches" not in getattr(KwargsModel, "__slots__", ()):
        return False
    params = list(inspect.signature(resolve_dependency).parameters)
    return params[:4] == ["dependency", "connection", "kwargs", "cleanup_group"]


def resolve_dependencies_in_order() -> bool:
    """Install the sequential resolution (idempotent; every app of this process shares it).
    False, with a warning, when the installed Litestar has another shape: its own concurrent
    resolution then stays (slower, the same results)."""
    if not _fits():
        log.warning("server/di.py: this Litestar resolves dependencies its own way (the "
                    "sequential resolution was written for Litestar 2.x internals)")
        return False
    KwargsModel.resolve_dependencies = _resolve_in_order  # type: ignore[method-assign]
    return True
