"""The small runtime that generated code imports: wire primitives, message and enum bases.

Generated decoders are straight-line code per message; they call into this module only for the
rare paths (multi-byte varints, skipping unknown fields, errors). Encoders call the ``put_*``
helpers, which check each value's type and range and name ``Message.field`` when it is wrong.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from ctrader_sdk._exceptions import DecodeError, EncodeError

__all__ = [
    "NOT_GIVEN",
    "RUNTIME_VERSION",
    "DecodeError",
    "EncodeError",
    "FieldSpec",
    "Message",
    "NotGiven",
    "ProtoEnum",
    "Request",
    "UnknownMessage",
]

_M = TypeVar("_M", bound="Message")

#: Version of the contract between generated code and this module. Generated modules call
#: :func:`require_runtime` with the version they were generated for.
RUNTIME_VERSION = 2

MASK64 = (1 << 64) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
UINT64_MAX, UINT32_MAX = MASK64, (1 << 32) - 1
FLOAT32_MAX = 3.4028234663852886e38

unpack_double = struct.Struct("<d").unpack_from
unpack_float = struct.Struct("<f").unpack_from
unpack_fixed32 = struct.Struct("<I").unpack_from
unpack_fixed64 = struct.Struct("<Q").unpack_from
unpack_sfixed32 = struct.Struct("<i").unpack_from
unpack_sfixed64 = struct.Struct("<q").unpack_from
_pack_double = struct.Struct("<d").pack
_pack_float = struct.Struct("<f").pack
_pack_fixed32 = struct.Struct("<I").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_sfixed32 = struct.Struct("<i").pack
_pack_sfixed64 = struct.Struct("<q").pack


def require_runtime(version: int) -> None:
    """Fail at import when generated code and this runtime disagree (regenerate with ``make generate``)."""
    if version != RUNTIME_VERSION:
        raise ImportError(
            f"ctrader_sdk._generated was made for runtime version {version}, but ctrader_sdk._wire is "
            f"version {RUNTIME_VERSION}: run `make generate`"
        )


class WireError(Exception):
    """Internal: a low-level wire problem; generated decoders turn it into :class:`DecodeError`."""


# ---------------------------------------------------------------------------------------------
# Decoding


def read_varint(buf: bytes, pos: int, first: int) -> tuple[int, int]:
    """Finish reading a varint whose first byte (``first``, >= 0x80) was already consumed.

    Returns the value (unsigned, truncated to 64 bits as protobuf does) and the new position.
    """
    return read_varint_tail(buf, pos, first & 0x7F, 7)


#: Deepest nesting of (unknown) groups accepted, as upb's default depth limit. Groups are skipped
#: iteratively, so a hostile run of start-group tags can neither recurse nor grow without bound.
MAX_GROUP_DEPTH = 100


def skip_field(buf: bytes, pos: int, tag: int, end: int) -> int:
    """Skip the value of an unknown field (any wire type, groups included) and return the new position."""
    wire = tag & 7
    if tag >> 3 == 0:
        raise WireError("field number 0")
    if tag > 0xFFFFFFFF:  # field numbers stop at 2**29 - 1: a tag is a 32-bit value
        raise WireError("field number out of range")
    if wire == 0:
        b = buf[pos]
        pos += 1
        if b >= 0x80:
            _, pos = read_varint(buf, pos, b)
    elif wire == 1:
        pos += 8
    elif wire == 2:
        b = buf[pos]
        pos += 1
        if b >= 0x80:
            b, pos = read_varint(buf, pos, b)
        pos += b
    elif wire == 5:
        pos += 4
    elif wire == 3:
        groups = [tag >> 3]  # the field numbers of the open groups, innermost last
        while groups:
            if pos >= end:
                raise WireError("group not closed")
            inner = buf[pos]
            pos += 1
            if inner >= 0x80:
                inner, pos = read_varint(buf, pos, inner)
            inner_wire = inner & 7
            if inner_wire == 4:
                if inner >> 3 != groups[-1]:
                    raise WireError("mismatched end of group")
                groups.pop()
            elif inner_wire == 3:
                if inner >> 3 == 0 or inner > 0xFFFFFFFF:
                    raise WireError("field number 0" if inner >> 3 == 0 else "field number out of range")
                if len(groups) >= MAX_GROUP_DEPTH:
                    raise WireError(f"groups nested deeper than {MAX_GROUP_DEPTH}")
                groups.append(inner >> 3)
            else:
                pos = skip_field(buf, pos, inner, end)
    else:
        raise WireError(f"invalid wire type {wire}")
    if pos > end:
        raise WireError("truncated")
    return pos


def read_varint_tail(buf: bytes, pos: int, value: int, shift: int) -> tuple[int, int]:
    """Finish a varint whose first ``shift // 7`` bytes (``value``, below ``2**shift``) were read inline."""
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value & MASK64, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")


def decode_error(cls: type[Message], buf: bytes, start: int, end: int, exc: BaseException) -> DecodeError:
    """Build the :class:`DecodeError` for ``exc``, raised while decoding ``cls`` from ``buf[start:end]``.

    The fast decoders do not track which field they are in; this slow path walks the fields again
    to name the one that is broken.
    """
    if isinstance(exc, WireError):
        reason = str(exc)
    elif isinstance(exc, UnicodeDecodeError):
        reason = "invalid UTF-8 in a string"
    else:
        reason = "truncated input"
    field = _find_broken_field(cls, buf, start, end)
    where = f"{cls.__name__}.{field}" if field else cls.__name__
    return DecodeError(f"cannot decode {where}: {reason}")


def _find_broken_field(cls: type[Message], buf: bytes, pos: int, end: int) -> str:
    numbers = {spec.number: spec for spec in cls._FIELDS}
    tag = 0
    try:
        while pos < end:
            tag = buf[pos]
            pos += 1
            if tag >= 0x80:
                tag, pos = read_varint(buf, pos, tag)
            value_start = pos
            pos = skip_field(buf, pos, tag, end)
            spec = numbers.get(tag >> 3)
            if spec is not None and tag & 7 == 2:
                if spec.kind == "string":
                    _, n_end = _length_prefix(buf, value_start)
                    buf[n_end:pos].decode()
                elif spec.label == "repeated" and spec.kind in _PACKED_WIDTH:
                    _, n_end = _length_prefix(buf, value_start)
                    _check_packed(buf, n_end, pos, _PACKED_WIDTH[spec.kind])
    except (IndexError, WireError, UnicodeDecodeError):
        number = tag >> 3
        spec = numbers.get(number)
        return spec.proto_name if spec else (f"#{number}" if number else "")
    return ""


#: Bytes per value of the packable kinds in a packed run (0: varints).
_PACKED_WIDTH = {
    **dict.fromkeys(("int32", "int64", "uint32", "uint64", "sint32", "sint64", "bool", "enum"), 0),
    **dict.fromkeys(("fixed64", "sfixed64", "double"), 8),
    **dict.fromkeys(("fixed32", "sfixed32", "float"), 4),
}


def _check_packed(buf: bytes, pos: int, stop: int, width: int) -> None:
    """Raise WireError when the packed run ``buf[pos:stop]`` does not hold whole values."""
    if width:
        if (stop - pos) % width:
            raise WireError("packed values run past their length")
        return
    while pos < stop:
        b = buf[pos]
        pos += 1
        if b >= 0x80:
            _, pos = read_varint(buf, pos, b)
    if pos != stop:
        raise WireError("packed values run past their length")


def _length_prefix(buf: bytes, pos: int) -> tuple[int, int]:
    n = buf[pos]
    pos += 1
    if n >= 0x80:
        n, pos = read_varint(buf, pos, n)
    return n, pos


def decode_merged(decode: Callable[[bytes, int, int], _M], buf: bytes, ranges: tuple[int, ...]) -> _M:
    """Decode a singular message field from its occurrences (``start, end`` pairs in ``ranges``).

    A message field that occurs more than once is the merge of its occurrences, which protobuf
    defines as decoding their concatenation; the common single occurrence is decoded in place.
    """
    if len(ranges) == 2:
        return decode(buf, ranges[0], ranges[1])
    joined = b"".join(buf[ranges[i] : ranges[i + 1]] for i in range(0, len(ranges), 2))
    return decode(joined, 0, len(joined))


def missing_required(message: str, proto_name: str) -> DecodeError:
    return DecodeError(f"cannot decode {message}: required field {proto_name} is missing")


def trailing_garbage(message: str) -> DecodeError:
    return DecodeError(f"cannot decode {message}: the last field runs past the end of the message")


def as_bytes(data: bytes | bytearray | memoryview, message: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{message}.from_bytes() takes bytes, not {type(data).__name__}")


# ---------------------------------------------------------------------------------------------
# Encoding. Each put_* checks the value and appends it; ``where`` is "Message.field" for errors.


def _bad_type(where: str, value: object, expected: str) -> EncodeError:
    return EncodeError(f"{where} must be {expected}, got {type(value).__name__}")


def _out_of_range(where: str, value: object, kind: str) -> EncodeError:
    return EncodeError(f"{where}={value!r} is out of range for {kind}")


def put_uvarint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def put_int64(out: bytearray, value: object, where: str) -> None:
    if not isinstance(value, int) or value.__class__ is bool:
        raise _bad_type(where, value, "an int")
    if not INT64_MIN <= value <= INT64_MAX:
        raise _out_of_range(where, value, "int64")
    put_uvarint(out, value & MASK64)


def put_int32(out: bytearray, value: object, where: str) -> None:
    if not isinstance(value, int) or value.__class__ is bool:
        raise _bad_type(where, value, "an int")
    if not INT32_MIN <= value <= INT32_MAX:
        raise _out_of_range(where, value, "int32")
    put_uvarint(out, value & MASK64)


def put_enum(out: bytearray, value: object, cls: type[ProtoEnum], where: str) -> None:
    if not isinstance(value, int) or value.__class__ is bool:
        raise _bad_type(where, value, f"a {cls.__name__} or int")
    if isinstance(value, ProtoEnum) and not isinstance(value, cls):
        raise _bad_type(where, value, f"a {cls.__name__}")
    if not INT32_MIN <= value <= INT32_MAX:
        raise _out_of_range(where, value, "an enum (int32)")
    put_uvarint(out, value & MASK64)


def put_uint64(out: bytearray, value: object, where: str) -> None:
    if not isinstance(value, int) or value.__class__ is bool:
        raise _bad_type(where, value, "an int")
    if not 0 <= value <= UINT64_MAX:
        raise _out_of_range(where, value, "uint64")
    put_uvarint(out, value)


def put_uint32(out: bytearray, value: object, where: str) -> None:
    if not isinstance(value, int) or value.__class__ is bool:
        raise _bad_type(where, value, "an int")
    if not 0 <= value <= UINT32_MAX:
        raise _out_of_range(where, value, "uint32")
    put_uvarint(out, value)


def put_sint64(out: bytearray, value: object, where: str) -> None:
    if not isinstance(value, int) or value.__class__ is bool:
        raise _bad_type(where, value, "an int")
    if not INT64_MIN <= value <= INT64_MAX:
        raise _out_of_range(where, value, "sint64")
    put_uvarint(out, ((value << 1) ^ (value >> 63)) & MASK64)


def put_sint32(out: bytearray, value: object, where: str) -> None:
    if not isinstance(value, int) or value.__class__ is bool:
        raise _bad_type(where, value, "an int")
    if not INT32_MIN <= value <= INT32_MAX:
        raise _out_of_range(where, value, "sint32")
    put_uvarint(out, ((value << 1) ^ (value >> 31)) & 0xFFFFFFFF)


def put_bool(out: bytearray, value: object, where: str) -> None:
    if not isinstance(value, int):
        raise _bad_type(where, value, "a bool")
    out.append(1 if value else 0)


def put_double(out: bytearray, value: object, where: str) -> None:
    if not isinstance(value, (float, int)):
        raise _bad_type(where, value, "a float")
    try:
        out += _pack_double(value)
    except (OverflowError, struct.error):  # struct.error: an int too large for a C double
        raise _out_of_range(where, value, "double") from None


def put_float(out: bytearray, value: object, where: str) -> None:
    if not isinstance(value, (float, int)):
        raise _bad_type(where, value, "a float")
    try:
        out += _pack_float(value)
    except (OverflowError, struct.error):  # struct.error: an int too large for a C double
        raise _out_of_range(where, value, "float") from None


def _put_fixed(
    pack: Callable[[int], bytes], lo: int, hi: int, kind: str
) -> Callable[[bytearray, int, str], None]:
    def put(out: bytearray, value: object, where: str) -> None:
        if not isinstance(value, int):
            raise _bad_type(where, value, "an int")
        if not lo <= value <= hi:
            raise _out_of_range(where, value, kind)
        out += pack(value)

    return put


put_fixed32 = _put_fixed(_pack_fixed32, 0, UINT32_MAX, "fixed32")
put_fixed64 = _put_fixed(_pack_fixed64, 0, UINT64_MAX, "fixed64")
put_sfixed32 = _put_fixed(_pack_sfixed32, INT32_MIN, INT32_MAX, "sfixed32")
put_sfixed64 = _put_fixed(_pack_sfixed64, INT64_MIN, INT64_MAX, "sfixed64")


def put_string(out: bytearray, value: object, where: str) -> None:
    if not isinstance(value, str):
        raise _bad_type(where, value, "a str")
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise EncodeError(f"{where} is not encodable as UTF-8 (it holds a lone surrogate)") from None
    put_uvarint(out, len(data))
    out += data


def put_bytes(out: bytearray, value: object, where: str) -> None:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise _bad_type(where, value, "bytes")
    put_uvarint(out, len(value))
    out += value


def put_message(out: bytearray, value: Message, cls: type[Message], where: str) -> None:
    if value.__class__ is not cls:
        raise _bad_type(where, value, f"a {cls.__name__}")
    data = value.to_bytes()
    put_uvarint(out, len(data))
    out += data


def check_list(value: object, where: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise _bad_type(where, value, "a list")
    return value


def required(message: str, field: str) -> EncodeError:
    return EncodeError(f"{message}.{field} is required but not set")


# ---------------------------------------------------------------------------------------------
# Messages and enums


class FieldSpec(NamedTuple):
    """What the generic helpers (dict conversion, repr) know of one field."""

    name: str  # python attribute
    proto_name: str
    number: int
    kind: str  # scalar kind, "enum" or "message"
    label: str  # "required" | "optional" | "repeated"
    type: Any  # the enum or message class, else None
    secret: bool


class NotGiven:
    """Sentinel for "argument not given", where ``None`` is a meaningful value (e.g. ``timeout=None``
    means "wait forever", while not giving it means "use the client's default")."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN = NotGiven()


class Message:
    """Base of every generated message (the generated classes are ``@dataclass(slots=True, kw_only=True)``).

    Class attributes:
        PAYLOAD_TYPE: the payload type that announces this message in a ``ProtoMessage`` envelope
            (messages without one, such as model messages, have ``None``).
    """

    __slots__ = ()
    PAYLOAD_TYPE: ClassVar[int | None] = None
    _FIELDS: ClassVar[tuple[FieldSpec, ...]] = ()

    def to_bytes(self) -> bytes:
        """Encode to the protobuf wire format (implemented by every generated message)."""
        raise NotImplementedError

    @classmethod
    def from_bytes(cls: type[_M], data: bytes | bytearray | memoryview) -> _M:
        """Decode from the protobuf wire format (implemented by every generated message)."""
        raise NotImplementedError

    @classmethod
    def from_dict(cls: type[_M], data: Mapping[str, Any]) -> _M:
        """Build from a dict as made by :meth:`to_dict` (implemented by every generated message)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict keyed by the proto field names; unset optional fields are left out.

        Enums become their value names (an unknown value stays an int), bytes become base64 text, and
        NaN/infinite doubles become ``"NaN"``/``"Infinity"``/``"-Infinity"`` as in protobuf's JSON mapping.
        """
        out: dict[str, Any] = {}
        for spec in self._FIELDS:
            value = getattr(self, spec.name)
            if value is None:
                continue
            if spec.label == "repeated":
                out[spec.proto_name] = [_to_json(spec, v) for v in value]
            else:
                out[spec.proto_name] = _to_json(spec, value)
        return out

    @classmethod
    def _from_dict_kwargs(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise DecodeError(f"{cls.__name__}.from_dict() takes a mapping, not {type(data).__name__}")
        by_key = {s.proto_name: s for s in cls._FIELDS}
        by_key.update({s.name: s for s in cls._FIELDS})
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            spec = by_key.get(key)
            if spec is None:
                if key == "payloadType" and value in (cls.PAYLOAD_TYPE, None):
                    continue
                raise DecodeError(f"{cls.__name__}.from_dict(): unknown field {key!r}")
            if value is None and spec.label == "optional":
                continue
            where = f"{cls.__name__}.{spec.proto_name}"
            if spec.label == "repeated":
                if not isinstance(value, (list, tuple)):
                    raise DecodeError(f"{where} must be a list in from_dict()")
                kwargs[spec.name] = [_from_json(spec, v, where) for v in value]
            else:
                kwargs[spec.name] = _from_json(spec, value, where)
        for spec in cls._FIELDS:
            if spec.label == "required" and spec.name not in kwargs:
                raise DecodeError(f"{cls.__name__}.from_dict(): required field {spec.proto_name} is missing")
        return kwargs


_R_co = TypeVar("_R_co", bound=Message, covariant=True)


class Request(Message, Generic[_R_co]):
    """Base of every request message; generic in the message that answers it.

    Class attributes:
        RESPONSE_TYPE: the message class the server answers with.
        TRADING: True for the trading requests (answered by an execution event, never retried).
    """

    __slots__ = ()
    RESPONSE_TYPE: ClassVar[type[Message]]
    TRADING: ClassVar[bool] = False


@dataclass(slots=True, frozen=True)
class UnknownMessage:
    """A message whose payload type this release does not know; the payload is kept undecoded."""

    payload_type: int
    payload: bytes

    PAYLOAD_TYPE: ClassVar[int | None] = None


_PSEUDO: dict[tuple[type, int], Any] = {}  # pseudo-members made so far, so a value maps to one object
_PSEUDO_LIMIT = 4096


class ProtoEnum(IntEnum):
    """Base of generated enums. A value the release does not know decodes to a pseudo-member named
    ``UNKNOWN_<value>`` instead of failing: servers add values before clients regenerate."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        key = (cls, value)
        member = _PSEUDO.get(key)
        if member is None:
            member = int.__new__(cls, value)
            member._name_ = f"UNKNOWN_{value}"
            member._value_ = value
            if len(_PSEUDO) < _PSEUDO_LIMIT:  # bounded: a peer sending random values cannot grow it forever
                _PSEUDO[key] = member
        return member

    @property
    def is_known(self) -> bool:
        """False for a pseudo-member made for a value this release does not define."""
        return self._name_ in type(self).__members__


def redact(value: object) -> str:
    """What ``repr`` shows for a secret field: ``'<redacted>'`` when set, ``None`` when not."""
    return "None" if value is None else "'<redacted>'"


_FLOAT_KINDS = frozenset({"double", "float"})


def _to_json(spec: FieldSpec, value: Any) -> Any:
    kind = spec.kind
    if kind == "message":
        return value.to_dict()
    if kind == "enum":
        return value.name if value.is_known else int(value)
    if kind == "bytes":
        return base64.b64encode(value).decode("ascii")
    if kind in _FLOAT_KINDS:
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float(value)
    if kind == "bool":
        return bool(value)
    return value


_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _from_json(spec: FieldSpec, value: Any, where: str) -> Any:
    kind = spec.kind
    try:
        if kind == "message":
            return spec.type.from_dict(value)
        if kind == "enum":
            if isinstance(value, str):
                return spec.type[value]
            if isinstance(value, int) and not isinstance(value, bool):
                return spec.type(value)
        elif kind == "bytes":
            if isinstance(value, str):
                return base64.b64decode(value, validate=True)
            if isinstance(value, (bytes, bytearray)):
                return bytes(value)
        elif kind in _FLOAT_KINDS:
            if isinstance(value, str) and value in _SPECIAL_FLOATS:
                return _SPECIAL_FLOATS[value]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        elif kind == "bool":
            if isinstance(value, bool):
                return value
        elif kind == "string":
            if isinstance(value, str):
                return value
        elif isinstance(value, int) and not isinstance(value, bool):
            return value
        elif isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)  # protobuf's JSON mapping writes 64-bit integers as strings
    except (KeyError, ValueError) as exc:
        raise DecodeError(f"{where}: {value!r} is not a valid {kind} ({exc})") from None
    raise DecodeError(f"{where}: {type(value).__name__} {value!r} is not a valid {kind}")
