"""Shared helpers for the generator tests: the fixture fragments and how their goldens are made."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FRAGMENTS = HERE / "fragments"
GOLDENS = HERE / "goldens"
FIXTURE_RELEASE = "fixture"

if (
    str(ROOT) not in sys.path
):  # `python tests/generator/update_goldens.py` runs without the project on the path
    sys.path.insert(0, str(ROOT))


def cases() -> list[str]:
    """Every fixture case: one folder of .proto files each, one edge case per folder."""
    return sorted(p.name for p in FRAGMENTS.iterdir() if p.is_dir() and any(p.glob("*.proto")))


def render_case(case: str) -> dict[str, str]:
    """Generate the output files of one fixture case (name → text), exactly as codegen writes them."""
    from codegen.generate import generate_sources

    return generate_sources(FRAGMENTS / case, FIXTURE_RELEASE)
