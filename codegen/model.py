"""A small, frozen, typed model of the schema: everything the templates need, resolved up front.

The templates only loop and print; every decision (python names, field kinds, wire types, request →
response pairing, payload types, docs) is made here, and anything the SDK cannot map fails loudly with
:class:`~codegen.descriptors.SchemaError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

from google.protobuf import descriptor_pb2

from codegen import naming
from codegen.descriptors import SchemaError

FDP = descriptor_pb2.FieldDescriptorProto

#: Requests whose answer is not the message named like them with ``Res`` (design: the five trading
#: requests answer with an execution event, and fail with ``ProtoOAOrderErrorEvent``).
NON_CONVENTIONAL_RESPONSES: dict[str, str] = {
    "ProtoOANewOrderReq": "ProtoOAExecutionEvent",
    "ProtoOACancelOrderReq": "ProtoOAExecutionEvent",
    "ProtoOAAmendOrderReq": "ProtoOAExecutionEvent",
    "ProtoOAAmendPositionSLTPReq": "ProtoOAExecutionEvent",
    "ProtoOAClosePositionReq": "ProtoOAExecutionEvent",
}

#: Proto field names whose values are credentials: hidden from ``repr`` and never logged.
SECRET_FIELDS: frozenset[str] = frozenset({"clientSecret", "accessToken", "refreshToken"})

#: Enums whose values are server error codes; each value becomes one exception class.
ERROR_CODE_ENUMS: tuple[str, ...] = ("ProtoErrorCode", "ProtoOAErrorCode")

# kind → (wire type, python annotation for a scalar)
_SCALARS: dict[int, tuple[str, int, str]] = {
    FDP.TYPE_DOUBLE: ("double", 1, "float"),
    FDP.TYPE_FLOAT: ("float", 5, "float"),
    FDP.TYPE_INT64: ("int64", 0, "int"),
    FDP.TYPE_UINT64: ("uint64", 0, "int"),
    FDP.TYPE_INT32: ("int32", 0, "int"),
    FDP.TYPE_UINT32: ("uint32", 0, "int"),
    FDP.TYPE_SINT32: ("sint32", 0, "int"),
    FDP.TYPE_SINT64: ("sint64", 0, "int"),
    FDP.TYPE_FIXED64: ("fixed64", 1, "int"),
    FDP.TYPE_FIXED32: ("fixed32", 5, "int"),
    FDP.TYPE_SFIXED64: ("sfixed64", 1, "int"),
    FDP.TYPE_SFIXED32: ("sfixed32", 5, "int"),
    FDP.TYPE_BOOL: ("bool", 0, "bool"),
    FDP.TYPE_STRING: ("string", 2, "str"),
    FDP.TYPE_BYTES: ("bytes", 2, "bytes"),
}
_LABELS = {FDP.LABEL_REQUIRED: "required", FDP.LABEL_OPTIONAL: "optional", FDP.LABEL_REPEATED: "repeated"}


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def module_name(proto_file: str) -> str:
    """``OpenApiCommonModelMessages.proto`` → ``common_model_messages``; others: snake_case of the stem."""
    stem = PurePath(proto_file).stem
    if stem.startswith("OpenApi") and len(stem) > len("OpenApi"):
        stem = stem[len("OpenApi") :]
    return naming.snake_case(stem)


def clean_doc(text: str) -> str:
    """Normalise a proto comment: drop ``*`` gutters and blank edges, join wrapped lines."""
    lines = []
    for raw in text.replace("\r", "").split("\n"):
        line = raw.strip()
        line = re.sub(r"^\*+\s?", "", line).rstrip("*/ ").strip()
        lines.append(line)
    doc = " ".join(line for line in lines if line)
    doc = re.sub(r"\s+", " ", doc).strip()
    # Docstrings end up between triple quotes.
    return doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


@dataclass(frozen=True, slots=True)
class EnumValue:
    name: str
    number: int
    doc: str


@dataclass(frozen=True, slots=True)
class Enum:
    name: str
    module: str
    values: tuple[EnumValue, ...]
    doc: str


@dataclass(frozen=True, slots=True)
class Field:
    proto_name: str
    name: str
    number: int
    label: str  # "required" | "optional" | "repeated"
    kind: str  # scalar kind, "enum" or "message"
    type_name: str | None  # class name of an enum or message field
    packed: bool  # encode a repeated scalar packed (decoding accepts both forms)
    default: str | None  # the declared proto default, documented only
    doc: str
    secret: bool

    @property
    def wire_type(self) -> int:
        if self.kind == "enum":
            return 0
        if self.kind == "message":
            return 2
        for kind, wire, _ in _SCALARS.values():
            if kind == self.kind:
                return wire
        raise AssertionError(self.kind)  # pragma: no cover

    @property
    def tag(self) -> int:
        return (self.number << 3) | self.wire_type

    @property
    def packed_tag(self) -> int:
        return (self.number << 3) | 2

    @property
    def tag_bytes(self) -> str:
        """The encoded tag as a Python bytes literal."""
        wire = self.packed_tag if self.packed else self.tag
        return repr(_varint_bytes(wire))

    @property
    def packable(self) -> bool:
        return self.label == "repeated" and self.wire_type != 2

    @property
    def base_type(self) -> str:
        if self.kind in ("enum", "message"):
            assert self.type_name is not None
            return self.type_name
        for kind, _, annotation in _SCALARS.values():
            if kind == self.kind:
                return annotation
        raise AssertionError(self.kind)  # pragma: no cover

    @property
    def annotation(self) -> str:
        if self.label == "repeated":
            return f"list[{self.base_type}]"
        if self.label == "optional":
            return f"{self.base_type} | None"
        return self.base_type


@dataclass(frozen=True, slots=True)
class Message:
    name: str
    module: str
    fields: tuple[Field, ...]
    doc: str
    payload_type: int | None  # the value of this message's payloadType default, if it has one
    payload_type_enum: str | None
    payload_type_value: str | None
    is_request: bool
    response: str | None

    @property
    def has_secrets(self) -> bool:
        return any(f.secret for f in self.fields)

    @property
    def fields_by_number(self) -> tuple[Field, ...]:
        """Fields in field-number order: the order encoders write them in (declaration order may differ)."""
        return tuple(sorted(self.fields, key=lambda f: f.number))

    @property
    def fast_path_fields(self) -> tuple[Field, ...]:
        """Fields decoded by the in-order fast path: single-byte tags, in field-number order (the
        order every protobuf encoder writes them in). Anything else goes through the general loop."""
        return tuple(f for f in self.fields_by_number if f.tag < 0x80)

    @property
    def required_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.label == "required")


@dataclass(frozen=True, slots=True)
class Request:
    message: Message
    response: str
    method: str
    trading: bool


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: str
    number: int
    enum: str
    class_name: str
    doc: str


@dataclass(frozen=True, slots=True)
class ProtoFile:
    name: str
    module: str
    sha256: str
    imports: tuple[str, ...]  # generated sibling modules this one needs
    enums: tuple[Enum, ...]
    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class Schema:
    release: str
    files: tuple[ProtoFile, ...]
    requests: tuple[Request, ...]
    error_codes: tuple[ErrorCode, ...]

    @property
    def messages(self) -> tuple[Message, ...]:
        return tuple(m for f in self.files for m in f.messages)

    @property
    def enums(self) -> tuple[Enum, ...]:
        return tuple(e for f in self.files for e in f.enums)

    def module_of(self, name: str) -> str:
        for f in self.files:
            if any(m.name == name for m in f.messages) or any(e.name == name for e in f.enums):
                return f.module
        raise KeyError(name)


def _comments(fdp: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    docs: dict[tuple[int, ...], str] = {}
    for loc in fdp.source_code_info.location:
        text = loc.leading_comments or loc.trailing_comments
        if text.strip():
            docs[tuple(loc.path)] = clean_doc(text)
    return docs


def _type_name(full: str) -> str:
    return full.rsplit(".", 1)[-1]


def build_schema(
    fds: descriptor_pb2.FileDescriptorSet,
    *,
    release: str,
    hashes: dict[str, str],
) -> Schema:
    """Resolve the descriptor set into the model.

    Raises:
        SchemaError: a construct the SDK does not support (groups, oneofs, nested types, maps), a name
            collision, or a request without a mappable response.
    """
    enum_values: dict[str, dict[str, int]] = {}
    enum_names: set[str] = set()
    message_names: set[str] = set()
    for fdp in fds.file:
        for e in fdp.enum_type:
            enum_names.add(e.name)
            enum_values[e.name] = {v.name: v.number for v in e.value}
        for m in fdp.message_type:
            message_names.add(m.name)
    clash = enum_names & message_names
    if clash:
        raise SchemaError(f"{', '.join(sorted(clash))} is declared both as a message and as an enum")

    files: list[ProtoFile] = []
    module_by_type: dict[str, str] = {}
    for fdp in fds.file:
        module = module_name(fdp.name)
        for e in fdp.enum_type:
            module_by_type[e.name] = module
        for m in fdp.message_type:
            module_by_type[m.name] = module

    seen_modules: set[str] = set()
    for fdp in fds.file:
        module = module_name(fdp.name)
        if module in seen_modules or module in ("registry", "requests", "errors"):
            raise SchemaError(f"{fdp.name} maps to the module name {module!r}, which is already taken")
        seen_modules.add(module)
        docs = _comments(fdp)
        enums = tuple(_build_enum(fdp.name, module, i, e, docs) for i, e in enumerate(fdp.enum_type))
        messages = tuple(
            _build_message(fdp.name, module, i, m, docs, enum_values, message_names)
            for i, m in enumerate(fdp.message_type)
        )
        used = {f.type_name for m in messages for f in m.fields if f.type_name}
        used |= {m.payload_type_enum for m in messages if m.payload_type_enum}
        imports = tuple(sorted({module_by_type[t] for t in used if t in module_by_type} - {module}))
        files.append(
            ProtoFile(
                name=fdp.name,
                module=module,
                sha256=hashes.get(fdp.name, ""),
                imports=imports,
                enums=enums,
                messages=messages,
            )
        )

    all_messages = {m.name: m for f in files for m in f.messages}
    requests: list[Request] = []
    for f in files:
        for m in f.messages:
            if not m.is_request:
                continue
            assert m.response is not None
            if m.response not in all_messages:
                raise SchemaError(
                    f"request {m.name} ({f.name}) has no response message {m.response}: add it to "
                    "NON_CONVENTIONAL_RESPONSES in codegen/model.py"
                )
            requests.append(
                Request(
                    message=m,
                    response=m.response,
                    method=naming.request_method_name(m.name),
                    trading=m.name in NON_CONVENTIONAL_RESPONSES,
                )
            )
    methods = [r.method for r in requests]
    dupes = sorted({n for n in methods if methods.count(n) > 1})
    if dupes:
        raise SchemaError(f"two requests map to the same method name: {', '.join(dupes)}")

    errors: list[ErrorCode] = []
    seen_codes: set[str] = set()
    for e in (e for f in files for e in f.enums):
        if e.name not in ERROR_CODE_ENUMS:
            continue
        for v in e.values:
            if v.name in seen_codes:
                continue  # the same code in two enums is one exception class
            seen_codes.add(v.name)
            errors.append(ErrorCode(v.name, v.number, e.name, naming.error_class_name(v.name), v.doc))
    return Schema(release=release, files=tuple(files), requests=tuple(requests), error_codes=tuple(errors))


def _build_enum(
    file: str,
    module: str,
    index: int,
    e: descriptor_pb2.EnumDescriptorProto,
    docs: dict[tuple[int, ...], str],
) -> Enum:
    values = tuple(EnumValue(v.name, v.number, docs.get((5, index, 2, j), "")) for j, v in enumerate(e.value))
    if not values:
        raise SchemaError(f"{file}: enum {e.name} has no values")
    return Enum(e.name, module, values, docs.get((5, index), ""))


def _build_message(
    file: str,
    module: str,
    index: int,
    m: descriptor_pb2.DescriptorProto,
    docs: dict[tuple[int, ...], str],
    enum_values: dict[str, dict[str, int]],
    message_names: set[str],
) -> Message:
    where = f"{file}: message {m.name}"
    if m.nested_type or m.enum_type:
        raise SchemaError(f"{where} declares nested types, which the generator does not support")
    if m.oneof_decl:
        raise SchemaError(f"{where} has a oneof, which the generator does not support")
    fields: list[Field] = []
    payload_type = payload_enum = payload_value = None
    names: set[str] = set()
    for j, f in enumerate(m.field):
        if f.type == FDP.TYPE_GROUP:
            raise SchemaError(f"{where} field {f.name} is a group, which the generator does not support")
        if f.HasField("extendee"):
            raise SchemaError(f"{where} field {f.name} is an extension, which the generator does not support")
        type_name = _type_name(f.type_name) if f.type_name else None
        if (
            f.name == "payloadType"
            and f.number == 1
            and f.type == FDP.TYPE_ENUM
            and f.label != FDP.LABEL_REPEATED
        ):
            assert type_name is not None
            if not f.HasField("default_value"):
                raise SchemaError(f"{where}: payloadType has no default, so its payload type is unknown")
            payload_enum, payload_value = type_name, f.default_value
            payload_type = enum_values[type_name][payload_value]
            continue
        if f.type == FDP.TYPE_ENUM:
            kind = "enum"
        elif f.type == FDP.TYPE_MESSAGE:
            kind = "message"
            if type_name not in message_names:
                raise SchemaError(
                    f"{where} field {f.name} refers to {f.type_name}, which is not a message here"
                )
        else:
            kind = _SCALARS[f.type][0]
        name = naming.field_name(f.name)
        if name in names:
            raise SchemaError(f"{where}: two fields map to the Python name {name!r}")
        names.add(name)
        label = _LABELS[f.label]
        packed = (
            label == "repeated"
            and f.type not in (FDP.TYPE_STRING, FDP.TYPE_BYTES, FDP.TYPE_MESSAGE)
            and (f.options.packed)
        )
        fields.append(
            Field(
                proto_name=f.name,
                name=name,
                number=f.number,
                label=label,
                kind=kind,
                type_name=type_name,
                packed=bool(packed),
                default=f.default_value if f.HasField("default_value") else None,
                doc=docs.get((4, index, 2, j), ""),
                secret=f.name in SECRET_FIELDS,
            )
        )
    is_request = m.name.endswith("Req") and payload_type is not None
    response = None
    if is_request:
        response = NON_CONVENTIONAL_RESPONSES.get(m.name, m.name[: -len("Req")] + "Res")
    return Message(
        name=m.name,
        module=module,
        fields=tuple(fields),
        doc=docs.get((4, index), ""),
        payload_type=payload_type,
        payload_type_enum=payload_enum,
        payload_type_value=payload_value,
        is_request=is_request,
        response=response,
    )
