"""Run protoc (from grpcio-tools) over a folder of ``.proto`` files and load the descriptors.

protoc is run with ``--include_source_info`` so the proto comments reach the generated docstrings.
Its errors are turned into one clear sentence naming the file, the line and what is wrong.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2


class SchemaError(Exception):
    """The ``.proto`` files cannot be compiled or cannot be mapped onto the SDK."""


_MISSING_ENUM_VALUE = re.compile(
    r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): "
    r'Enum type "(?P<enum>[\w.]+)" has no value named "(?P<value>\w+)"'
)
_LOCATED = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")


def explain_protoc_errors(stderr: str, folder: Path) -> str:
    """Turn protoc's diagnostics into one sentence (plus the count of further errors)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return f"protoc failed on {folder} without saying why"
    first = lines[0]
    more = len(lines) - 1
    tail = f" ({more} more error{'s' if more != 1 else ''} of the same kind follow)" if more else ""
    m = _MISSING_ENUM_VALUE.match(first)
    if m:
        missing = [mm.group("value") for mm in map(_MISSING_ENUM_VALUE.match, lines) if mm]
        also = f"; also missing: {', '.join(missing[1:])}" if len(missing) > 1 else ""
        return (
            f"{m['file']} line {m['line']} uses the value {m['value']}, which enum {m['enum']} does not "
            f"define — the upstream release in {folder} is inconsistent and cannot be compiled{also}"
        )
    m = _LOCATED.match(first)
    if m:
        return f"{m['file']} line {m['line']}: {m['msg']}{tail}"
    return f"protoc failed on {folder}: {first}{tail}"


def compile_descriptors(folder: Path) -> descriptor_pb2.FileDescriptorSet:
    """Compile every ``.proto`` in ``folder`` and return the descriptor set with source info.

    Raises:
        SchemaError: no ``.proto`` files, or protoc refused them (the message names file and line).
    """
    protos = sorted(p.name for p in folder.glob("*.proto"))
    if not protos:
        raise SchemaError(f"no .proto files in {folder}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "descriptors.pb"
        cmd = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={folder}",
            f"--descriptor_set_out={out}",
            "--include_imports",
            "--include_source_info",
            *protos,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SchemaError(explain_protoc_errors(proc.stderr, folder))
        fds = descriptor_pb2.FileDescriptorSet()
        fds.ParseFromString(out.read_bytes())
        return fds
