"""Every realtime/ module opens with a docstring saying what it is for (sizes and import cycles
are checked project-wide by tests/test_structure.py)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "realtime"


def test_each_realtime_module_says_what_it_is_for() -> None:
    """No module of the hub without a docstring."""
    missing = [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py"))
               if not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == []
