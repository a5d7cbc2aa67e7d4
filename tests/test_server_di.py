"""The sequential dependency resolution (server/di.py) fits the installed Litestar: an upgrade
that changes Litestar's internals fails here instead of silently costing a task group per
request again."""

from __future__ import annotations


def test_the_sequential_resolution_fits_the_installed_litestar() -> None:
    from litestar._kwargs.kwargs_model import KwargsModel

    from server.di import _resolve_in_order, resolve_dependencies_in_order

    assert resolve_dependencies_in_order() is True
    assert KwargsModel.resolve_dependencies is _resolve_in_order
