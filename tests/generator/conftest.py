"""Fixtures of the generator tests."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from _fixtures import FRAGMENTS, ROOT, cases, render_case  # type: ignore[import-not-found]


@pytest.fixture(scope="session")
def fixture_packages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every fixture case generated as an importable package ``fx_<case>`` in one folder."""
    root = tmp_path_factory.mktemp("fixture_packages")
    for case in cases():
        pkg = root / f"fx_{case}"
        pkg.mkdir()
        for name, text in render_case(case).items():
            (pkg / name).write_text(text, encoding="utf-8")
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.startswith("fx_")]:
            del sys.modules[name]


@pytest.fixture(scope="session")
def load_fixture(fixture_packages: Path) -> object:
    def load(case: str, module: str) -> ModuleType:
        return importlib.import_module(f"fx_{case}.{module}")

    return load


@pytest.fixture(scope="session")
def fixture_upb(tmp_path_factory: pytest.TempPathFactory) -> object:
    """google protobuf (upb) modules compiled from the same fixture protos: the wire oracle."""
    root = tmp_path_factory.mktemp("fixture_upb")
    for case in cases():
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{FRAGMENTS / case}", f"--python_out={root}",
             *[p.name for p in (FRAGMENTS / case).glob("*.proto")]],
            check=True, cwd=FRAGMENTS / case,
        )  # fmt: skip
    sys.path.insert(0, str(root))

    def load(case: str) -> ModuleType:
        return importlib.import_module(f"{case}_pb2")

    return load


__all__ = ["ROOT"]
