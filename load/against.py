"""A/B against another commit in the same run: servers of a `git archive` copy of that commit
(same engines, same schema, same load client), alternated with this tree's, and the ratios.

A scenario adds `--<name>-against <commit>` (`add_argument`), runs its load once per variant
(`variants`: the other commit first, then this tree) and notes this tree's figures against the
other's (`ratio_notes`).
"""

from __future__ import annotations

import statistics
import subprocess
from pathlib import Path
from typing import Any

from load.stack import Stack

THIS_TREE = "this tree"


def add_argument(g: Any, name: str, example: str = "58fdd46") -> None:
    g.add_argument(f"--{name}-against", default="",
                   help="also run the same load on the servers of this git commit (a `git "
                        f"archive` copy, same engines and schema), e.g. {example}, and print "
                        "this tree's ratios to it")


def archive(ref: str, into: Path) -> Path:
    """A copy of the source tree at `ref` (`git archive`), for servers of that commit."""
    root = Path(__file__).resolve().parents[1]
    into.mkdir(parents=True, exist_ok=True)
    data = subprocess.run(["git", "archive", ref], cwd=root, capture_output=True,
                          check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=data, check=True)
    return into


def variants(stack: Stack, ref: str) -> list[tuple[str, Path | None]]:
    """(label, source root or None for this tree): `ref`'s copy first when given."""
    out: list[tuple[str, Path | None]] = [(THIS_TREE, None)]
    if ref:
        out.insert(0, (ref, archive(ref, stack.tmp / f"against-{ref}")))
    return out


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [x[key] for x in runs if isinstance(x.get(key), int | float) and x[key] >= 0]
    return statistics.median(values) if values else None


def _fmt(v: float) -> str:
    return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3g}"


def ratio_notes(runs: dict[str, list[dict[str, Any]]], ref: str,
                ratios: tuple[tuple[str, str], ...]) -> list[str]:
    """`label: this tree B vs <ref> A (xB/A, same run)` for each (key, label) both have."""
    if not ref:
        return []
    notes = []
    for key, label in ratios:
        a, b = _median(runs[ref], key), _median(runs[THIS_TREE], key)
        if a and b is not None:
            notes.append(f"{label}: this tree {_fmt(b)} vs {ref} {_fmt(a)} (x{b / a:.2f}, "
                         "same run)")
    return notes


def title(base: str, label: str) -> str:
    return base if label == THIS_TREE else f"{base} (servers of {label})"
