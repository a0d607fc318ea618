"""The reference implementation: google protobuf (upb) modules compiled from the same proto release.

:func:`build` runs grpcio-tools' ``protoc --python_out`` on the fetched release into the git-ignored
``.upb/<release>/`` folder (rebuilt only when the protos or the tool versions change; built in a
temporary folder and moved into place, so concurrent runs never see half-written modules), and
:func:`load` imports the four ``_pb2`` modules, which import each other by bare module name.

The helpers convert our messages into upb messages (:func:`fill_upb`), compare one of ours with a
upb message field by field (:func:`assert_matches_upb`), and draw random upb messages straight from
the upb descriptors (:func:`upb_values_strategy`), independently of our generated ``_FIELDS``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from google.protobuf import __version__ as protobuf_version
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message as UpbMessage
from google.protobuf.unknown_fields import UnknownFieldSet
from grpc_tools import protoc
from grpc_tools.grpc_version import VERSION as grpc_tools_version
from hypothesis import strategies as st

from ctrader_sdk._wire import FieldSpec, Message

from .strategies import FLOAT_KINDS, MAX_DEPTH, float_bits, scalar_strategy, split_fields

REPO_ROOT = Path(__file__).resolve().parents[2]
UPB_ROOT = REPO_ROOT / ".upb"
#: The four modules protoc makes from the four files of a release, dependencies first.
MODULES = (
    "OpenApiCommonModelMessages_pb2",
    "OpenApiCommonMessages_pb2",
    "OpenApiModelMessages_pb2",
    "OpenApiMessages_pb2",
)
STAMP = ".stamp.json"


class Oracle:
    """The upb modules of one release and their message classes by proto name."""

    __slots__ = ("classes", "folder", "modules", "release")

    def __init__(
        self,
        release: str,
        folder: Path,
        modules: tuple[ModuleType, ...],
        classes: dict[str, type[UpbMessage]],
    ) -> None:
        self.release = release
        self.folder = folder
        self.modules = modules
        self.classes = classes

    def __repr__(self) -> str:  # short: hypothesis prints it with every failing example
        return f"<upb oracle of release {self.release}>"

    def new(self, ours: type[Message] | Message | str) -> UpbMessage:
        """An empty upb message of the type named like ``ours`` (a class, an instance or a name)."""
        if isinstance(ours, str):
            name = ours
        elif isinstance(ours, type):
            name = ours.__name__
        else:
            name = type(ours).__name__
        return self.classes[name]()

    def to_upb(self, ours: Message) -> UpbMessage:
        """The upb message holding the same values as ``ours``."""
        target = self.new(ours)
        fill_upb(target, ours)
        return target


# ---------------------------------------------------------------------------------------------
# Building and loading


def _stamp(proto_dir: Path) -> str:
    files = sorted(proto_dir.glob("*.proto"))
    return json.dumps(
        {
            "protos": {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files},
            "protobuf": protobuf_version,
            "grpcio-tools": grpc_tools_version,
        },
        sort_keys=True,
    )


def _up_to_date(dest: Path, stamp: str) -> bool:
    try:
        return (dest / STAMP).read_text(encoding="utf-8") == stamp
    except OSError:
        return False


def build(release: str, proto_dir: Path, root: Path = UPB_ROOT) -> Path:
    """Compile ``proto_dir``'s ``.proto`` files into ``root/<release>/`` unless already up to date."""
    dest = root / release
    stamp = _stamp(proto_dir)
    if _up_to_date(dest, stamp):
        return dest
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{release}-", dir=root))
    try:
        protos = sorted(str(p) for p in proto_dir.glob("*.proto"))
        args = ["grpc_tools.protoc", f"-I{proto_dir}", f"--python_out={tmp}", *protos]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {proto_dir}: {' '.join(args)}")
        (tmp / STAMP).write_text(stamp, encoding="utf-8")
        for _ in range(3):
            try:
                os.replace(tmp, dest)  # fails while dest exists (and is not empty)
                break
            except OSError:
                if _up_to_date(dest, stamp):
                    break  # a concurrent run put the same build in place first: use that one
                stale = Path(tempfile.mkdtemp(prefix=f".stale-{release}-", dir=root))
                with contextlib.suppress(OSError):  # another run may have moved it already
                    os.replace(dest, stale / release)
                shutil.rmtree(stale, ignore_errors=True)
        else:
            raise RuntimeError(f"cannot put the upb modules in place at {dest}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    importlib.invalidate_caches()
    return dest


def load(release: str, folder: Path) -> Oracle:
    """Import the ``_pb2`` modules of ``folder`` (a bare-name import, as they import each other)."""
    already = {name: sys.modules[name] for name in MODULES if name in sys.modules}
    for name, module in already.items():
        origin = Path(getattr(module, "__file__", "") or "").resolve().parent
        if origin != folder.resolve():
            # Two sets of these modules would fight over the same names in protobuf's default
            # descriptor pool; refuse rather than compare against something else.
            raise RuntimeError(f"{name} is already imported from {origin}, not from the oracle {folder}")
    sys.path.insert(0, str(folder))
    try:
        modules = tuple(importlib.import_module(name) for name in MODULES)
    finally:
        sys.path.remove(str(folder))
    classes: dict[str, type[UpbMessage]] = {}
    for module in modules:
        for name in module.DESCRIPTOR.message_types_by_name:
            classes[name] = getattr(module, name)
    return Oracle(release=release, folder=folder, modules=modules, classes=classes)


# ---------------------------------------------------------------------------------------------
# Ours → upb, and comparison


def _upb_scalar(spec: FieldSpec, value: Any) -> Any:
    return int(value) if spec.kind == "enum" else value


def fill_upb(target: UpbMessage, ours: Message) -> None:
    """Set on the upb message ``target`` every field set on ``ours``."""
    for spec in type(ours)._FIELDS:
        value = getattr(ours, spec.name)
        name = spec.proto_name
        if spec.label == "repeated":
            container = getattr(target, name)
            if spec.kind == "message":
                for item in value:
                    fill_upb(container.add(), item)
            else:
                container.extend([_upb_scalar(spec, v) for v in value])
        elif value is not None:
            if spec.kind == "message":
                sub = getattr(target, name)
                sub.SetInParent()  # presence even when the nested message has no field set
                fill_upb(sub, value)
            else:
                setattr(target, name, _upb_scalar(spec, value))


def _assert_value_matches(
    spec: FieldSpec, ours: Any, theirs: Any, where: str, no_unknown: bool, closed_enums: bool
) -> None:
    kind = spec.kind
    if kind == "message":
        assert_matches_upb(ours, theirs, where, no_unknown=no_unknown, closed_enums=closed_enums)
    elif kind in FLOAT_KINDS:
        assert type(ours) is float and type(theirs) is float, f"{where}: {ours!r} vs upb {theirs!r}"
        assert float_bits(kind, ours) == float_bits(kind, theirs), f"{where}: {ours!r} vs upb {theirs!r}"
    elif kind == "enum":
        assert isinstance(ours, spec.type), f"{where}: {ours!r} is not a {spec.type.__name__}"
        assert int(ours) == theirs, f"{where}: {ours!r} vs upb {theirs!r}"
    else:
        assert type(ours) is type(theirs), f"{where}: {ours!r} vs upb {theirs!r}"
        assert ours == theirs, f"{where}: {ours!r} vs upb {theirs!r}"


def _is_unknown_enum(spec: FieldSpec, value: Any) -> bool:
    return spec.kind == "enum" and not value.is_known


def assert_matches_upb(
    ours: Message, theirs: UpbMessage, where: str = "", *, no_unknown: bool = True, closed_enums: bool = False
) -> None:
    """Assert that ``ours`` and the upb message ``theirs`` hold the same field values, compared by
    proto name: presence (``HasField``) for optional fields, value for required ones, lists for
    repeated ones, nested messages recursively, enums by value, floats bitwise.

    ``no_unknown``: also assert upb found no field it does not know (i.e. everything we encoded was
    recognised with the right number and wire type).
    ``closed_enums``: ``ours`` was decoded from bytes holding enum values the release does not know.
    We keep them as ``UNKNOWN_<n>`` pseudo-members; upb (proto2 enums are closed) moves them to its
    unknown fields, so they are left out of the comparison (dropped from lists; a singular field
    holding one is not compared, upb having it unset or at an earlier known value).
    """
    cls = type(ours)
    where = where or cls.__name__
    descriptor = theirs.DESCRIPTOR
    assert descriptor.name == cls.__name__, f"{where}: comparing with a upb {descriptor.name}"
    if no_unknown:
        assert len(UnknownFieldSet(theirs)) == 0, f"{where}: upb saw unknown fields in our encoding"
    for spec in cls._FIELDS:
        here = f"{where}.{spec.proto_name}"
        value = getattr(ours, spec.name)
        if spec.label == "repeated":
            items = list(getattr(theirs, spec.proto_name))
            if closed_enums:
                value = [v for v in value if not _is_unknown_enum(spec, v)]
            assert len(value) == len(items), f"{here}: {len(value)} items, upb has {len(items)}"
            for i, (a, b) in enumerate(zip(value, items, strict=True)):
                _assert_value_matches(spec, a, b, f"{here}[{i}]", no_unknown, closed_enums)
            continue
        has = theirs.HasField(spec.proto_name)
        if closed_enums and value is not None and _is_unknown_enum(spec, value):
            # upb left the field unset, or holding an earlier known value of the same field: an
            # unknown value does not replace it there, while here the last value wins.
            continue
        if value is None:
            assert spec.label == "optional", f"{here}: a required field is None"
            assert not has, f"{here}: unset here, upb has {getattr(theirs, spec.proto_name)!r}"
        else:
            assert has, f"{here}: set here to {value!r}, unset in upb"
            _assert_value_matches(
                spec, value, getattr(theirs, spec.proto_name), here, no_unknown, closed_enums
            )


def top_level_field_numbers(data: bytes) -> list[int]:
    """The field numbers of ``data``'s top-level fields, in wire order (for failure messages)."""
    return [number for number, _ in split_fields(data)]


def _short(data: bytes, limit: int = 120) -> str:
    text = data.hex()
    return text if len(text) <= limit else f"{text[:limit]}... ({len(data)} bytes)"


def assert_bytes_identical(ours: Message, upb_bytes: bytes) -> None:
    """Assert ``ours.to_bytes()`` is byte for byte upb's serialisation of the same values."""
    data = ours.to_bytes()
    if data != upb_bytes:
        raise AssertionError(
            f"{type(ours).__name__}: our encoding differs from upb's; top-level field order "
            f"ours {top_level_field_numbers(data)} vs upb {top_level_field_numbers(upb_bytes)}\n"
            f"ours {_short(data)}\nupb  {_short(upb_bytes)}"
        )


# ---------------------------------------------------------------------------------------------
# Random upb messages, drawn from the upb descriptors (independent of our _FIELDS)

_T = FieldDescriptor
KIND_OF_TYPE: dict[int, str] = {
    _T.TYPE_INT32: "int32",
    _T.TYPE_INT64: "int64",
    _T.TYPE_UINT32: "uint32",
    _T.TYPE_UINT64: "uint64",
    _T.TYPE_SINT32: "sint32",
    _T.TYPE_SINT64: "sint64",
    _T.TYPE_FIXED32: "fixed32",
    _T.TYPE_FIXED64: "fixed64",
    _T.TYPE_SFIXED32: "sfixed32",
    _T.TYPE_SFIXED64: "sfixed64",
    _T.TYPE_BOOL: "bool",
    _T.TYPE_DOUBLE: "double",
    _T.TYPE_FLOAT: "float",
    _T.TYPE_STRING: "string",
    _T.TYPE_BYTES: "bytes",
    _T.TYPE_ENUM: "enum",
    _T.TYPE_MESSAGE: "message",
}

_UPB_STRATEGIES: dict[tuple[str, int], st.SearchStrategy[dict[str, Any]]] = {}


def upb_values_strategy(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Random field values for the upb message ``descriptor``, as a dict by field name (None = unset)
    to be applied with :func:`fill_upb_values`. Every field the descriptor has is drawn, including
    each message's ``payloadType`` (which our decoders skip)."""
    key = (descriptor.full_name, depth)
    cached = _UPB_STRATEGIES.get(key)
    if cached is not None:
        return cached
    deep = depth >= MAX_DEPTH
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for fd in descriptor.fields:
        kind = KIND_OF_TYPE[fd.type]
        value: st.SearchStrategy[Any]
        if kind == "message":
            value = upb_values_strategy(fd.message_type, depth + 1)
        elif kind == "enum":
            value = st.sampled_from([v.number for v in fd.enum_type.values])
        else:
            value = scalar_strategy(kind)
        if fd.is_repeated:
            parts[fd.name] = st.just([]) if deep else st.lists(value, max_size=max(0, 3 - depth))
        elif fd.is_required:
            parts[fd.name] = value
        else:
            parts[fd.name] = st.none() if deep else st.one_of(st.none(), value)
    strategy = st.fixed_dictionaries(parts)
    _UPB_STRATEGIES[key] = strategy
    return strategy


def fill_upb_values(target: UpbMessage, values: dict[str, Any]) -> UpbMessage:
    """Apply values drawn by :func:`upb_values_strategy` to ``target``; returns ``target``."""
    for fd in target.DESCRIPTOR.fields:
        value = values[fd.name]
        if value is None:
            continue
        is_message = fd.type == _T.TYPE_MESSAGE
        if fd.is_repeated:
            container = getattr(target, fd.name)
            if is_message:
                for item in value:
                    fill_upb_values(container.add(), item)
            else:
                container.extend(value)
        elif is_message:
            sub = getattr(target, fd.name)
            sub.SetInParent()
            fill_upb_values(sub, value)
        else:
            setattr(target, fd.name, value)
    return target
