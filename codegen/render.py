"""Render the model through the Jinja templates, format with ruff, and write the output package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jinja2

from codegen.descriptors import SchemaError
from codegen.model import Message, ProtoFile, Schema

CODEGEN_VERSION = "2"
RUNTIME_VERSION = 2  # must match ctrader_sdk._wire.RUNTIME_VERSION
TEMPLATES = Path(__file__).parent / "templates"

_WIRE_HELPERS = {
    # kind → names imported from ctrader_sdk._wire (decode side, encode side)
    "double": ("unpack_double", "put_double"),
    "float": ("unpack_float", "put_float"),
    "fixed32": ("unpack_fixed32", "put_fixed32"),
    "fixed64": ("unpack_fixed64", "put_fixed64"),
    "sfixed32": ("unpack_sfixed32", "put_sfixed32"),
    "sfixed64": ("unpack_sfixed64", "put_sfixed64"),
    "int64": ("", "put_int64"),
    "uint64": ("", "put_uint64"),
    "int32": ("", "put_int32"),
    "uint32": ("", "put_uint32"),
    "sint32": ("", "put_sint32"),
    "sint64": ("", "put_sint64"),
    "bool": ("", "put_bool"),
    "enum": ("", "put_enum"),
    "string": ("", "put_string"),
    "bytes": ("", "put_bytes"),
    "message": ("", "put_message"),
}


# Names every message module imports from ctrader_sdk._wire (as ``_<name>``).
_BASE_HELPERS = {
    "FieldSpec", "WireError", "as_bytes", "check_list", "decode_error", "missing_required",
    "put_uvarint", "read_varint", "read_varint_tail", "required", "skip_field", "trailing_garbage",
    "decode_merged",
}  # fmt: skip


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _imports_for(
    schema: Schema, names: list[str], exclude_module: str | None = None
) -> list[tuple[str, list[str]]]:
    """Group ``names`` by the generated module defining them, modules in schema order, names sorted."""
    by_module: dict[str, set[str]] = {}
    for name in names:
        bare = name.removeprefix("_decode_").removeprefix("_BY_VALUE_")
        module = schema.module_of(bare)
        if module != exclude_module:
            by_module.setdefault(module, set()).add(name)
    order = [f.module for f in schema.files]
    return [(m, sorted(by_module[m], key=lambda n: (n.startswith("_"), n))) for m in order if m in by_module]


def _file_context(schema: Schema, file: ProtoFile) -> dict[str, object]:
    needed: set[str] = set()
    kinds: set[str] = set()
    for msg in file.messages:
        for f in msg.fields:
            kinds.add(f.kind)
            if f.kind == "message":
                assert f.type_name is not None
                needed |= {f.type_name, f"_decode_{f.type_name}"}
            elif f.kind == "enum":
                assert f.type_name is not None
                needed |= {f.type_name, f"_BY_VALUE_{f.type_name}"}
        if msg.is_request:
            assert msg.response is not None
            needed.add(msg.response)
    helpers = sorted({h for k in kinds for h in _WIRE_HELPERS[k] if h} | _BASE_HELPERS, key=str.lower)
    return {
        "imports": _imports_for(schema, sorted(needed), exclude_module=file.module),
        "all": [e.name for e in file.enums] + [m.name for m in file.messages],
        "wire_helpers": helpers,
    }


def render_sources(schema: Schema) -> dict[str, str]:
    """Render every output file; returns file name → unformatted source."""
    env = environment()
    common = {"schema": schema, "codegen_version": CODEGEN_VERSION, "runtime_version": RUNTIME_VERSION}
    out: dict[str, str] = {}
    trading = {r.message.name for r in schema.requests if r.trading}
    for f in schema.files:
        out[f"{f.module}.py"] = env.get_template("messages.py.j2").render(
            file=f, file_ctx=_file_context(schema, f), trading=trading, **common
        )
    payload_messages: list[Message] = [m for m in schema.messages if m.payload_type is not None]
    seen: dict[int, str] = {}
    for m in payload_messages:
        assert m.payload_type is not None
        if m.payload_type in seen:
            raise SchemaError(f"{m.name} and {seen[m.payload_type]} share the payload type {m.payload_type}")
        seen[m.payload_type] = m.name
    registry_names = sorted(
        {m.name for m in payload_messages}
        | {f"_decode_{m.name}" for m in payload_messages}
        | {r.response for r in schema.requests}
    )
    out["registry.py"] = env.get_template("registry.py.j2").render(
        ctx={"imports": _imports_for(schema, registry_names)}, payload_messages=payload_messages, **common
    )
    request_names = sorted(
        {r.message.name for r in schema.requests}
        | {r.response for r in schema.requests}
        | {f.type_name for r in schema.requests for f in r.message.fields if f.type_name}
    )
    response_docs = {m.name: (m.doc or m.name) for m in schema.messages}
    out["requests.py"] = env.get_template("requests.py.j2").render(
        ctx={"imports": _imports_for(schema, request_names)}, response_docs=response_docs, **common
    )
    out["errors.py"] = env.get_template("errors.py.j2").render(**common)
    all_names = [e.name for e in schema.enums] + [m.name for m in schema.messages]
    out["__init__.py"] = env.get_template("__init__.py.j2").render(
        ctx={"imports": _imports_for(schema, all_names), "all": sorted(all_names)}, **common
    )
    _check_collisions(schema)
    return out


def _check_collisions(schema: Schema) -> None:
    names = [e.name for e in schema.enums] + [m.name for m in schema.messages]
    names += [e.class_name for e in schema.error_codes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SchemaError(f"generated names collide: {', '.join(dupes)}")


def format_sources(sources: dict[str, str]) -> dict[str, str]:
    """Format with the pinned ruff, independent of any project configuration (deterministic)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in sources.items():
            (root / name).write_text(text, encoding="utf-8")
        settings = ["--isolated", "--quiet", "--line-length", "110", "--target-version", "py310"]
        fix = [
            sys.executable, "-m", "ruff", "check", *settings, "--fix", "--select", "F401,I001,RUF022",
            "--config", "lint.isort.known-first-party=['ctrader_sdk', 'codegen']", str(root),
        ]  # fmt: skip
        fmt = [sys.executable, "-m", "ruff", "format", *settings, str(root)]
        proc = subprocess.run(fix, capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            proc = subprocess.run(fmt, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            dump = Path(tempfile.mkdtemp(prefix="codegen-failed-"))
            for name, text in sources.items():
                (dump / name).write_text(text, encoding="utf-8")
            raise SchemaError(
                f"ruff could not format the generated code ({proc.stderr.strip()}); raw output in {dump}"
            )
        return {name: (root / name).read_text(encoding="utf-8") for name in sources}


def write_package(sources: dict[str, str], out_dir: Path) -> None:
    """Replace ``out_dir`` with exactly these files (written to a sibling folder first, then swapped)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        for name, text in sorted(sources.items()):
            (staging / name).write_text(text, encoding="utf-8", newline="\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
