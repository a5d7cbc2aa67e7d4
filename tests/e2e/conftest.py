"""Prints the e2e figures (first-load size, time to interactive) at the end of the run."""

from __future__ import annotations

from typing import Any

from tests.e2e.browser import FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("browser client figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
