"""Codec benchmark: ctrader_sdk's generated codec against google protobuf (upb) and betterproto2.

Run with ``make bench`` or ``python bench/codec.py`` (``--help`` for options). It

1. compiles the current proto release with ``protoc --python_out`` (upb) and with the
   betterproto2 compiler into ``bench/.out/``;
2. builds three sample inputs with upb and checks that every implementation decodes them to the
   same values and encodes them back to equal messages (a wrong codec must not win a benchmark);
3. times decode and encode of each sample for each implementation, round-robin, and prints the
   medians, the ratios and the targets (informational: the exit status is 0 unless something broke);
4. times ``import ctrader_sdk`` and the baselines' imports in fresh interpreters.

See bench/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from importlib.metadata import version
from types import ModuleType
from typing import Any

from _common import (
    OUT,
    ROOT,
    Bench,
    compile_bytecode,
    count_bytecodes,
    fmt_ns,
    fmt_ratio,
    import_betterproto2,
    import_error,
    import_upb,
    machine_summary,
    paired_ratio,
    print_table,
    proto_dir,
    run_round_robin,
    time_imports,
)

import ctrader_sdk
from ctrader_sdk import FrameDecoder, decode_envelope, encode_envelope, encode_frame
from ctrader_sdk._generated.registry import RELEASE
from ctrader_sdk.messages import ProtoOAGetTrendbarsRes, ProtoOASymbolsListRes

BP2_PACKAGE = "ctrader_bp2"
SEED = 20240091

DECODE_VS_BP2_TARGET = 10.0  # ours decodes at least this many times faster than betterproto2
DECODE_VS_UPB_TARGET = 3.0  # ours decodes within this factor of upb with every field read
IMPORT_TARGET_S = 0.1

# Messages are "Any": upb and betterproto2 classes are generated at run time, so nothing is typed.
Decoder = Callable[[bytes], Any]
Encoder = Callable[[Any], bytes]


@dataclass
class Impl:
    """One library's codec for one case: decode from bytes, encode from its own message object."""

    decode: Decoder
    encode: Encoder
    message: Any = None  # the decoded sample, encoded by the encode benchmark


@dataclass
class Case:
    """One sample input and the three codecs for it."""

    key: str
    title: str
    data: bytes
    reference: Any  # the upb message ``data`` was built from
    upb_cls: Any  # its upb class (the payload's, for the framed case)
    upb_read: Callable[[Any], Any]  # reads every set field of a parsed upb message into Python
    ours: Impl
    upb: Impl
    bp2: Impl
    upb_parse: Decoder  # upb's parse alone, no field read into Python
    data_no_payload_type: bytes  # the same input without payloadType inside the payload


# ---------------------------------------------------------------------------------------------
# Sample data, built with upb


def spot_event(pb: ModuleType, model: ModuleType) -> Any:
    """A live EURUSD quote with its M1 bar, as sent after ProtoOASubscribeLiveTrendbarReq."""
    event = pb.ProtoOASpotEvent(
        payloadType=model.PROTO_OA_SPOT_EVENT,
        ctidTraderAccountId=38_123_456,
        symbolId=1,
        bid=108_123,
        ask=108_125,
        sessionClose=107_950,
        timestamp=1_732_812_345_678,
    )
    event.trendbar.add(
        volume=1_234,
        period=model.M1,
        low=108_101,
        deltaOpen=12,
        deltaClose=22,
        deltaHigh=31,
        utcTimestampInMinutes=28_880_205,
    )
    return event


def trendbars_res(pb: ModuleType, model: ModuleType, count: int, rng: random.Random) -> Any:
    """``count`` M1 bars of a random walk around 1.08 (prices in 1/100000), one minute apart."""
    res = pb.ProtoOAGetTrendbarsRes(
        payloadType=model.PROTO_OA_GET_TRENDBARS_RES,
        ctidTraderAccountId=38_123_456,
        period=model.M1,
        symbolId=1,
        hasMore=True,
    )
    low = 108_000
    minute = 28_880_205 - count
    for _ in range(count):
        low = max(1, low + rng.randint(-25, 25))
        high = rng.randint(0, 60)
        res.trendbar.add(
            volume=rng.randint(5, 3_000),
            period=model.M1,
            low=low,
            deltaOpen=rng.randint(0, high),
            deltaClose=rng.randint(0, high),
            deltaHigh=high,
            utcTimestampInMinutes=minute,
        )
        minute += 1
    return res


_CURRENCIES: tuple[str, ...] = ("EUR", "USD", "GBP", "JPY", "CHF", "AUD", "NZD", "CAD", "SEK", "NOK")
_CURRENCIES += ("DKK", "PLN", "HUF", "CZK", "TRY", "ZAR", "MXN", "SGD", "HKD", "CNH")
_NAMES = {"EUR": "Euro", "USD": "US Dollar", "GBP": "British Pound", "JPY": "Japanese Yen"}


def symbols_res(pb: ModuleType, model: ModuleType, count: int, rng: random.Random) -> Any:
    """``count`` light symbols: currency pairs first, then stock CFDs with names and descriptions."""
    res = pb.ProtoOASymbolsListRes(
        payloadType=model.PROTO_OA_SYMBOLS_LIST_RES, ctidTraderAccountId=38_123_456
    )
    pairs = [(b, q) for b in _CURRENCIES for q in _CURRENCIES if b != q]
    for i in range(count):
        if i < len(pairs):
            base, quote = pairs[i]
            name = f"{base}{quote}"
            description = f"{_NAMES.get(base, base)} vs {_NAMES.get(quote, quote)}"
            category = 1
        else:
            ticker = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(2, 5)))
            name = f"{ticker}.{rng.choice(['US', 'DE', 'UK', 'FR'])}"
            description = f"{ticker.title()} Holdings {rng.choice(['Inc', 'AG', 'plc', 'SA'])} (CFD)"
            category = rng.randint(2, 40)
        res.symbol.add(
            symbolId=i + 1,
            symbolName=name,
            enabled=rng.random() > 0.05,
            baseAssetId=rng.randint(1, 400),
            quoteAssetId=rng.randint(1, 40),
            symbolCategoryId=category,
            description=description,
            sortingNumber=float(rng.randint(1, 5_000)),
        )
    return res


def frame_of(common_pb: ModuleType, payload_type: int, payload: bytes) -> bytes:
    body: bytes = common_pb.ProtoMessage(payloadType=payload_type, payload=payload).SerializeToString()
    return len(body).to_bytes(4, "big") + body


def without_payload_type(message: Any) -> bytes:
    copy = type(message)()
    copy.CopyFrom(message)
    copy.ClearField("payloadType")
    data: bytes = copy.SerializeToString()
    return data


# ---------------------------------------------------------------------------------------------
# upb "decode": parse, then read every set field into Python objects (a tuple per message).
# payloadType inside a payload is not read: it repeats the envelope's, and ours drops it too.


def upb_bar(b: Any) -> tuple[Any, ...]:
    return (b.volume, b.period, b.low, b.deltaOpen, b.deltaClose, b.deltaHigh, b.utcTimestampInMinutes)


def upb_read_spot(m: Any) -> tuple[Any, ...]:
    return (
        m.ctidTraderAccountId,
        m.symbolId,
        m.bid,
        m.ask,
        [upb_bar(b) for b in m.trendbar],
        m.sessionClose,
        m.timestamp,
    )


def upb_read_trendbars(m: Any) -> tuple[Any, ...]:
    return (m.ctidTraderAccountId, m.period, [upb_bar(b) for b in m.trendbar], m.symbolId, m.hasMore)


def upb_read_symbols(m: Any) -> tuple[Any, ...]:
    return (
        m.ctidTraderAccountId,
        [
            (
                s.symbolId,
                s.symbolName,
                s.enabled,
                s.baseAssetId,
                s.quoteAssetId,
                s.symbolCategoryId,
                s.description,
                s.sortingNumber,
            )
            for s in m.symbol
        ],
    )


# ---------------------------------------------------------------------------------------------
# Canonical values, to check that all three libraries agree: {field number: value}, nested
# messages as dicts, enums as ints. betterproto2 treats proto2 as proto3 (no presence), so it is
# compared on the "proto3 view": fields equal to their type's zero value left out.


def _is_zero(value: object) -> bool:
    return value in (0, False, "", b"") or value == [] or value == {}


def canon_upb(message: Any, *, proto3: bool = False) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for fd, value in message.ListFields():
        if fd.name == "payloadType":
            continue
        if fd.message_type is not None:
            if fd.is_repeated:
                value = [canon_upb(v, proto3=proto3) for v in value]
            else:
                value = canon_upb(value, proto3=proto3)
        elif fd.is_repeated:
            value = list(value)
        if proto3 and _is_zero(value):
            continue
        out[fd.number] = value
    return out


def canon_ours(message: ctrader_sdk.Message) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for spec in message._FIELDS:
        value = getattr(message, spec.name)
        if value is None or (spec.label == "repeated" and not value):
            continue
        if spec.kind == "message":
            value = [canon_ours(v) for v in value] if spec.label == "repeated" else canon_ours(value)
        elif spec.kind == "enum":
            value = [int(v) for v in value] if spec.label == "repeated" else int(value)
        elif spec.label == "repeated":
            value = list(value)
        out[spec.number] = value
    return out


def canon_bp2(message: Any) -> dict[int, Any]:
    import betterproto2

    out: dict[int, Any] = {}
    for f in dataclasses.fields(message):
        if f.name == "payload_type":
            continue
        number = betterproto2.FieldMetadata.get(f).number
        value = getattr(message, f.name)
        if isinstance(value, betterproto2.Message):
            value = canon_bp2(value)
        elif isinstance(value, list):
            value = [canon_bp2(v) if isinstance(v, betterproto2.Message) else v for v in value]
        if isinstance(value, Enum):
            value = value.value
        if _is_zero(value):
            continue
        out[number] = value
    return out


def _expect(equal: bool, what: str) -> None:
    if not equal:
        raise RuntimeError(f"correctness check failed: {what}; not benchmarking a wrong codec")


def _leaves(value: object) -> int:
    """How many scalar values a nested structure of tuples, lists and dicts holds."""
    if isinstance(value, dict):
        return sum(_leaves(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(_leaves(v) for v in value)
    return 1


def upb_unframe(common_pb: ModuleType, frame: bytes, inner_cls: Any) -> tuple[Any, Any]:
    size = int.from_bytes(frame[:4], "big")
    _expect(size == len(frame) - 4, "frame length prefix")
    envelope = common_pb.ProtoMessage.FromString(frame[4:])
    return envelope, inner_cls.FromString(envelope.payload)


def verify(case: Case, common_pb: ModuleType) -> None:
    """Check every codec against ``case.reference`` before anything is timed.

    Decoding ``case.data`` must give the reference's values (betterproto2: its proto3 view); the upb
    reader must read as many values as the reference has set; encoding each library's decoded
    message must give bytes that upb parses back to the reference's values.
    """
    framed = case.key == "a"
    want = canon_upb(case.reference)
    want3 = canon_upb(case.reference, proto3=True)
    payload_type = case.reference.payloadType

    def ours_message(data: bytes) -> Any:
        decoded = case.ours.decode(data)
        if not framed:
            return decoded
        _expect(decoded.payload_type == payload_type, f"{case.title}: ours envelope payloadType")
        _expect(decoded.client_msg_id is None, f"{case.title}: ours envelope clientMsgId")
        return decoded.message

    case.ours.message = ours_message(case.data)
    _expect(canon_ours(case.ours.message) == want, f"{case.title}: ours decode")
    _expect(
        canon_ours(ours_message(case.data_no_payload_type)) == want,
        f"{case.title}: ours decode of the payload without payloadType",
    )

    decoded_bp2 = case.bp2.decode(case.data)
    case.bp2.message = decoded_bp2[1] if framed else decoded_bp2
    _expect(canon_bp2(case.bp2.message) == want3, f"{case.title}: betterproto2 decode")

    case.upb.message = case.upb_cls.FromString(case.reference.SerializeToString())
    _expect(
        _leaves(case.upb_read(case.upb.message)) == _leaves(want),
        f"{case.title}: the upb reader does not read every set field",
    )

    for name, impl, proto3 in (("ours", case.ours, False), ("upb", case.upb, False), ("bp2", case.bp2, True)):
        encoded = impl.encode(impl.message)
        if framed:
            envelope, back = upb_unframe(common_pb, encoded, case.upb_cls)
            _expect(envelope.payloadType == payload_type, f"{case.title}: {name} encode, envelope")
        else:
            back = case.upb_cls.FromString(encoded)
        _expect(canon_upb(back, proto3=proto3) == (want3 if proto3 else want), f"{case.title}: {name} encode")


# ---------------------------------------------------------------------------------------------
# The three codecs for each case


def build_cases(pbs: dict[str, ModuleType], bp2: ModuleType) -> list[Case]:
    common_pb, pb = pbs["OpenApiCommonMessages_pb2"], pbs["OpenApiMessages_pb2"]
    model_pb = pbs["OpenApiModelMessages_pb2"]
    rng = random.Random(SEED)
    return [
        framed_spot_case(common_pb, pb, model_pb, bp2),
        plain_case(
            "b",
            "(b) ProtoOAGetTrendbarsRes, 5,000 bars",
            trendbars_res(pb, model_pb, 5_000, rng),
            ProtoOAGetTrendbarsRes,
            bp2.ProtoOaGetTrendbarsRes,
            upb_read_trendbars,
        ),
        plain_case(
            "c",
            "(c) ProtoOASymbolsListRes, 1,000 symbols",
            symbols_res(pb, model_pb, 1_000, rng),
            ProtoOASymbolsListRes,
            bp2.ProtoOaSymbolsListRes,
            upb_read_symbols,
        ),
    ]


def framed_spot_case(common_pb: ModuleType, pb: ModuleType, model_pb: ModuleType, bp2: ModuleType) -> Case:
    """(a): each library reads the length prefix, the ProtoMessage envelope, then the payload its
    payload type names; encoding does the reverse."""
    spot = spot_event(pb, model_pb)
    spot_type = int(spot.payloadType)
    upb_types = {spot_type: pb.ProtoOASpotEvent}
    bp2_types = {spot_type: bp2.ProtoOaSpotEvent}
    frames = FrameDecoder()

    def ours_decode(data: bytes) -> Any:
        (body,) = frames.feed(data)
        return decode_envelope(body)

    def ours_encode(message: Any) -> bytes:
        return encode_frame(encode_envelope(message))

    def upb_parse(data: bytes) -> Any:
        body = data[4 : 4 + int.from_bytes(data[:4], "big")]
        envelope = common_pb.ProtoMessage.FromString(body)
        return upb_types[envelope.payloadType].FromString(envelope.payload)

    def upb_decode(data: bytes) -> Any:
        body = data[4 : 4 + int.from_bytes(data[:4], "big")]
        envelope = common_pb.ProtoMessage.FromString(body)
        payload_type = envelope.payloadType
        message = upb_types[payload_type].FromString(envelope.payload)
        client_msg_id = envelope.clientMsgId if envelope.HasField("clientMsgId") else None
        return payload_type, upb_read_spot(message), client_msg_id

    def upb_encode(message: Any) -> bytes:
        payload = message.SerializeToString()
        body: bytes = common_pb.ProtoMessage(payloadType=spot_type, payload=payload).SerializeToString()
        return len(body).to_bytes(4, "big") + body

    def bp2_decode(data: bytes) -> Any:
        body = data[4 : 4 + int.from_bytes(data[:4], "big")]
        envelope = bp2.ProtoMessage.parse(body)
        return envelope, bp2_types[envelope.payload_type].parse(envelope.payload)

    def bp2_encode(message: Any) -> bytes:
        body = bytes(bp2.ProtoMessage(payload_type=spot_type, payload=bytes(message)))
        return len(body).to_bytes(4, "big") + body

    return Case(
        key="a",
        title="(a) framed ProtoOASpotEvent",
        data=frame_of(common_pb, spot_type, spot.SerializeToString()),
        reference=spot,
        upb_cls=pb.ProtoOASpotEvent,
        upb_read=upb_read_spot,
        ours=Impl(ours_decode, ours_encode),
        upb=Impl(upb_decode, upb_encode),
        bp2=Impl(bp2_decode, bp2_encode),
        upb_parse=upb_parse,
        data_no_payload_type=frame_of(common_pb, spot_type, without_payload_type(spot)),
    )


def plain_case(
    key: str,
    title: str,
    reference: Any,
    ours_cls: type[ctrader_sdk.Message],
    bp2_cls: Any,
    upb_read: Callable[[Any], Any],
) -> Case:
    """(b), (c): a bare message, no envelope."""
    upb_cls = type(reference)

    def upb_decode(data: bytes) -> Any:
        return upb_read(upb_cls.FromString(data))

    return Case(
        key=key,
        title=title,
        data=reference.SerializeToString(),
        reference=reference,
        upb_cls=upb_cls,
        upb_read=upb_read,
        ours=Impl(ours_cls.from_bytes, lambda m: m.to_bytes()),
        upb=Impl(upb_decode, lambda m: m.SerializeToString()),
        bp2=Impl(bp2_cls.parse, bytes),
        upb_parse=upb_cls.FromString,
        data_no_payload_type=without_payload_type(reference),
    )


# ---------------------------------------------------------------------------------------------
# Timing and reporting


@dataclass
class CaseBenches:
    case: Case
    benches: dict[str, Bench]  # by key: "ours decode", "upb parse", ...

    def __getitem__(self, key: str) -> Bench:
        return self.benches[key]


def make_benches(case: Case) -> CaseBenches:
    data, data_no_pt = case.data, case.data_no_payload_type
    ours, upb, bp2, upb_parse = case.ours, case.upb, case.bp2, case.upb_parse
    fns: dict[str, Callable[[], object]] = {
        "ours decode": lambda: ours.decode(data),
        "ours encode": lambda: ours.encode(ours.message),
        "ours decode, no payloadType": lambda: ours.decode(data_no_pt),
        "upb decode": lambda: upb.decode(data),
        "upb parse": lambda: upb_parse(data),
        "upb encode": lambda: upb.encode(upb.message),
        "bp2 decode": lambda: bp2.decode(data),
        "bp2 encode": lambda: bp2.encode(bp2.message),
    }
    return CaseBenches(case, {key: Bench(f"{case.key}: {key}", fn) for key, fn in fns.items()})


def cell(bench: Bench) -> str:
    stats = bench.stats
    return f"{fmt_ns(stats.median)} (min {fmt_ns(stats.min)})"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report_codec(results: list[CaseBenches]) -> None:
    print("\nTime per call: median over rounds (min in brackets); upb decode = parse + read every set field")
    rows = []
    for r in results:
        rows.append([r.case.title, "ours", cell(r["ours decode"]), "", cell(r["ours encode"])])
        rows.append(["", "upb", cell(r["upb decode"]), cell(r["upb parse"]), cell(r["upb encode"])])
        rows.append(["", "betterproto2", cell(r["bp2 decode"]), "", cell(r["bp2 encode"])])
    print_table(["case", "library", "decode", "upb raw parse", "encode"], rows, left=2)

    print("\nRatios (median of per-round ratios; >1: the first is slower)")
    rows = [
        [
            r.case.title,
            fmt_ratio(paired_ratio(r["ours decode"], r["upb decode"])),
            fmt_ratio(paired_ratio(r["ours decode"], r["upb parse"])),
            fmt_ratio(paired_ratio(r["bp2 decode"], r["ours decode"])),
            fmt_ratio(paired_ratio(r["ours encode"], r["upb encode"])),
            fmt_ratio(paired_ratio(r["bp2 encode"], r["ours encode"])),
        ]
        for r in results
    ]
    headers = ["case", "decode ours/upb", "ours/upb raw parse", "decode bp2/ours"]
    print_table([*headers, "encode ours/upb", "encode bp2/ours"], rows)

    print("\nOurs: interpreter work per call (bytecode instructions, exact and load-independent)")
    rows = []
    for r in results:
        with_pt = count_bytecodes(r["ours decode"].fn)
        without_pt = count_bytecodes(r["ours decode, no payloadType"].fn)
        rows.append(
            [
                r.case.title,
                f"{with_pt:,}",
                f"{without_pt:,} ({fmt_ns(r['ours decode, no payloadType'].stats.median)}, "
                f"{fmt_ratio(paired_ratio(r['ours decode, no payloadType'], r['ours decode']))})",
                f"{count_bytecodes(r['ours encode'].fn):,}",
            ]
        )
    print_table(["case", "decode", "decode, payload without payloadType (time, vs. with)", "encode"], rows)

    print("\nTargets (informational)")
    for r in results:
        vs_bp2 = paired_ratio(r["bp2 decode"], r["ours decode"])
        vs_upb = paired_ratio(r["ours decode"], r["upb decode"])
        print(
            f"  {r.case.title}: decode ≥{DECODE_VS_BP2_TARGET:.0f}× faster than betterproto2: "
            f"{fmt_ratio(vs_bp2)} {verdict(vs_bp2 >= DECODE_VS_BP2_TARGET)}"
        )
        print(
            f"  {r.case.title}: decode within {DECODE_VS_UPB_TARGET:.0f}× of upb with field reads: "
            f"{fmt_ratio(vs_upb)} {verdict(vs_upb <= DECODE_VS_UPB_TARGET)}"
        )


def report_imports(runs: int, upb_names: list[str]) -> None:
    upb_dir, bp2_dir = OUT / "upb", OUT / BP2_PACKAGE
    for broken in compile_bytecode([ROOT / "ctrader_sdk", upb_dir, bp2_dir]):
        print(f"warning: {broken} does not compile; imports that need it are skipped below")
    statements = {
        "import ctrader_sdk": "import ctrader_sdk",
        "from ctrader_sdk import Client": "from ctrader_sdk import Client",
        "import google.protobuf + upb modules": "\n".join(
            ["import google.protobuf"] + [f"import {n}" for n in upb_names]
        ),
        f"import betterproto2 + {BP2_PACKAGE}": f"import betterproto2\nimport {BP2_PACKAGE}",
    }
    extra_path = [upb_dir, OUT]
    skipped = {}
    for label, statement in list(statements.items()):
        error = import_error(statement, extra_path=extra_path)
        if error is not None:
            skipped[label] = error
            del statements[label]
    if "import ctrader_sdk" in skipped:
        raise RuntimeError(f"import ctrader_sdk fails: {skipped['import ctrader_sdk']}")

    print(f"\nImport time in a fresh interpreter, bytecode compiled (median of {runs}, min in brackets)")
    times = time_imports(statements, runs=runs, extra_path=extra_path)
    rows = [[label, f"{s.median:.3f} s (min {s.min:.3f} s)"] for label, s in times.items()]
    rows += [[label, f"skipped: {error}"] for label, error in skipped.items()]
    print_table(["import", "time"], rows)
    ours = times["import ctrader_sdk"].median
    print(
        f"\nTarget (informational): import ctrader_sdk < {IMPORT_TARGET_S} s: "
        f"{ours:.3f} s {verdict(ours < IMPORT_TARGET_S)}\n"
        "  (for reference: the official SDK takes ~0.23 s, its asyncio fork ~0.13 s on this kind of machine)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Codec and import-time benchmark (see bench/README.md).")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per benchmark (default: 15)")
    parser.add_argument(
        "--batch-ms", type=float, default=20.0, help="target length of one batch (default: 20)"
    )
    parser.add_argument(
        "--import-runs", type=int, default=15, help="interpreters per import timing (default: 15)"
    )
    parser.add_argument("--no-imports", action="store_true", help="skip the import timings")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    print(f"ctrader_sdk codec benchmark, proto release {RELEASE}")
    print(machine_summary())

    protos = proto_dir(RELEASE)
    pbs = import_upb(protos, OUT / "upb")
    bp2 = import_betterproto2(protos, OUT, BP2_PACKAGE)
    print(f"google protobuf {version('protobuf')} (upb), betterproto2 {version('betterproto2')}")

    cases = build_cases(pbs, bp2)
    for case in cases:
        verify(case, pbs["OpenApiCommonMessages_pb2"])
    sizes = ", ".join(f"{case.key}) {len(case.data):,} B" for case in cases)
    print(f"Inputs ({sizes}) verified: all three libraries decode and re-encode them to the same values")

    results = [make_benches(case) for case in cases]

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            end = "\n" if done == total else ""
            print(f"\r  round {done}/{total}", end=end, file=sys.stderr, flush=True)

    benches = [bench for r in results for bench in r.benches.values()]
    phases = {"setup": time.perf_counter() - started}
    run_round_robin(benches, rounds=args.rounds, target_ns=int(args.batch_ms * 1e6), progress=progress)
    phases["timing"] = time.perf_counter() - started - sum(phases.values())
    report_codec(results)
    phases["bytecode counts"] = time.perf_counter() - started - sum(phases.values())

    if not args.no_imports:
        report_imports(args.import_runs, sorted(pbs))
        phases["imports"] = time.perf_counter() - started - sum(phases.values())
    spent = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phases.items())
    print(f"\nDone in {time.perf_counter() - started:.0f} s ({spent}); {machine_summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
