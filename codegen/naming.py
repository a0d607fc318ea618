"""How generated names are made from proto names. One rule per function, each unit-tested.

- Class names stay the proto names (``ProtoOANewOrderReq``) so the vendor docs stay searchable.
- Fields become snake_case (``ctidTraderAccountId`` → ``ctid_trader_account_id``); a name that is a
  Python keyword, a builtin the generated code relies on, or a name the SDK reserves gets a trailing ``_``.
- Request methods drop the ``ProtoOA``/``Proto`` prefix and the ``Req`` suffix, then snake_case
  (``ProtoOAv1PnLChangeSubscribeReq`` → ``v1_pnl_change_subscribe``).
- Error classes are the CamelCase of the error code plus ``Error`` (``BLOCKED_PAYLOAD_TYPE`` →
  ``BlockedPayloadTypeError``).
"""

from __future__ import annotations

import re

#: Names a generated field or parameter must not take, so a name gets a trailing underscore:
#: - Python keywords (a fixed list, not ``keyword.kwlist``, so the output is the same on every Python);
#: - builtins that generated class bodies and signatures use (``list`` in ``default_factory=list``,
#:   ``type`` in ``ClassVar[type[...]]``, the scalar types in annotations): a field with that name
#:   would shadow them inside the class body;
#: - names the SDK itself uses on messages and on request methods.
#: Other builtins (``id``, ``hash``, ``min``) are left alone: as attributes they shadow nothing.
RESERVED_NAMES: frozenset[str] = frozenset(
    {
        # keywords (identical in Python 3.10 to 3.13)
        "False",
        "None",
        "True",
        "and",
        "as",
        "assert",
        "async",
        "await",
        "break",
        "class",
        "continue",
        "def",
        "del",
        "elif",
        "else",
        "except",
        "finally",
        "for",
        "from",
        "global",
        "if",
        "import",
        "in",
        "is",
        "lambda",
        "nonlocal",
        "not",
        "or",
        "pass",
        "raise",
        "return",
        "try",
        "while",
        "with",
        "yield",
        # builtins the generated code refers to
        "bool",
        "bytes",
        "dict",
        "float",
        "int",
        "list",
        "object",
        "str",
        "type",
        "field",
        "dataclass",
        "ClassVar",
        # message API
        "to_bytes",
        "from_bytes",
        "to_dict",
        "from_dict",
        "PAYLOAD_TYPE",
        "RESPONSE_TYPE",
        # request-method API: every generated method takes these keyword arguments besides the fields
        "self",
        "timeout",
        "request",
    }
)

# Acronym runs are kept together: "PnL" is one word, "SLTP" is one word, "v1" is one word.
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+\d*|[A-Z]+\d*|\d+")
_SPECIAL_WORDS = {"PnL": "pnl"}


def snake_case(name: str) -> str:
    """Convert a camelCase or PascalCase proto name to snake_case.

    >>> snake_case("ctidTraderAccountId")
    'ctid_trader_account_id'
    >>> snake_case("AmendPositionSLTP")
    'amend_position_sltp'
    >>> snake_case("v1PnLChangeSubscribe")
    'v1_pnl_change_subscribe'
    """
    for special, replacement in _SPECIAL_WORDS.items():
        name = name.replace(special, replacement.capitalize())
    if "_" in name:
        return "_".join(snake_case(part) for part in name.split("_") if part)
    return "_".join(word.lower() for word in _WORD.findall(name))


def safe_name(name: str) -> str:
    """Append ``_`` to a name that collides with :data:`RESERVED_NAMES`."""
    return f"{name}_" if name in RESERVED_NAMES else name


def field_name(proto_name: str) -> str:
    """The Python attribute name of a proto field."""
    return safe_name(snake_case(proto_name))


def request_method_name(message_name: str) -> str:
    """The request-method name of a request message (``ProtoOAGetTrendbarsReq`` → ``get_trendbars``)."""
    base = message_name
    for prefix in ("ProtoOA", "Proto"):
        if base.startswith(prefix):
            base = base[len(prefix) :]
            break
    if base.endswith("Req"):
        base = base[: -len("Req")]
    return safe_name(snake_case(base))


def error_class_name(code: str) -> str:
    """The exception class name of an error code (``OA_AUTH_TOKEN_EXPIRED`` → ``OaAuthTokenExpiredError``)."""
    return "".join(part.capitalize() for part in code.split("_") if part) + "Error"
