"""The generated API under mypy --strict: positive assert_type checks and committed expected errors."""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def _mypy(path: Path) -> tuple[str, int]:
    out, err, status = api.run(
        ["--strict", "--config-file", str(ROOT / "pyproject.toml"), "--no-error-summary", str(path)]
    )
    return out + err, status


def test_positive_assert_types_hold() -> None:
    out, status = _mypy(HERE / "positive.py")
    assert status == 0, out


def test_negative_errors_match_the_committed_expectation() -> None:
    out, _ = _mypy(HERE / "negative.py")
    errors = sorted(
        re.sub(r"^.*negative\.py:", "negative.py:", line) for line in out.splitlines() if ": error:" in line
    )
    expected = sorted((HERE / "negative.expected").read_text().splitlines())
    assert errors == expected


def test_every_line_marked_e_has_an_error() -> None:
    lines = (HERE / "negative.py").read_text().splitlines()
    marked = {i for i, line in enumerate(lines, 1) if line.rstrip().endswith("# E")}
    expected = {int(line.split(":")[1]) for line in (HERE / "negative.expected").read_text().splitlines()}
    assert marked == expected
