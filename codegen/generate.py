"""Run the whole pipeline: fetch → descriptors → model → templates → files."""

from __future__ import annotations

import filecmp
import tempfile
from pathlib import Path

from codegen import fetch, render
from codegen.descriptors import compile_descriptors
from codegen.model import Schema, build_schema

DEFAULT_OUT = fetch.ROOT / "ctrader_sdk" / "_generated"


def load_schema(proto_dir: Path, release: str) -> Schema:
    """Compile ``proto_dir`` and build the model; the banner hashes are those of the files found."""
    fds = compile_descriptors(proto_dir)
    hashes = {p.name: fetch.sha256_of(p.read_bytes()) for p in sorted(proto_dir.glob("*.proto"))}
    return build_schema(fds, release=release, hashes=hashes)


def generate_sources(proto_dir: Path, release: str) -> dict[str, str]:
    schema = load_schema(proto_dir, release)
    return render.format_sources(render.render_sources(schema))


def resolve_protos(release: str | None, proto_dir: Path | None) -> tuple[Path, str]:
    """The folder of .proto files to use and the release name to print in the banner."""
    if proto_dir is not None:
        return proto_dir, release or proto_dir.name
    lock = fetch.load_lock()
    name = release or lock.current
    return fetch.fetch(name, lock=lock), name


def generate(release: str | None = None, *, out: Path = DEFAULT_OUT, proto_dir: Path | None = None) -> Path:
    folder, name = resolve_protos(release, proto_dir)
    render.write_package(generate_sources(folder, name), out)
    return out


def stale_files(
    release: str | None = None, *, against: Path = DEFAULT_OUT, proto_dir: Path | None = None
) -> list[str]:
    """Names of files that differ between a fresh generation and ``against`` (empty when up to date)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "_generated"
        generate(release, out=fresh, proto_dir=proto_dir)
        if not against.is_dir():
            return sorted(p.name for p in fresh.iterdir())
        cmp = filecmp.dircmp(fresh, against, ignore=["__pycache__"])
        _, mismatch, errors = filecmp.cmpfiles(fresh, against, cmp.common_files, shallow=False)
        return sorted(set(mismatch) | set(errors) | set(cmp.left_only) | set(cmp.right_only))
