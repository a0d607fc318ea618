"""Client benchmark: ctrader_sdk's asyncio ``Client`` against a minimal raw asyncio + upb client.

Run with ``make bench`` or ``python bench/client.py`` (``--help`` for options). It

1. compiles the current proto release with ``protoc --python_out`` (google protobuf on upb) for the
   raw client, the floor;
2. starts the sandbox in a separate process (``bench/_sandbox_proc.py``: rate limits raised, periodic
   feed slowed to one tick per 15 s), so client and server do not share one core;
3. connects both clients over plain TCP on loopback, authorises the application and one account each
   (two accounts, so a burst for one client never reaches the other), subscribes to EURUSD spots;
4. measures, alternating the two clients round by round:
   - spot events received and decoded per second during a burst of ``--events`` spot events sent as
     fast as possible by ``Sandbox.push_spots``: ours through ``client.events(ProtoOASpotEvent)``,
     the raw one in its read loop;
   - request round trip (p50, p99) of ``--requests`` sequential ``ProtoOAVersionReq`` after a warm-up;
5. prints medians over rounds, the ratios ours/raw, the targets (informational: the exit status is 0
   unless something broke) and the figures quoted in the issue for other SDKs.

See bench/README.md for what exactly is timed and how to read the output.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import itertools
import pstats
import statistics
import struct
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from _common import (
    OUT,
    ROOT,
    Bench,
    fmt_ns,
    fmt_ratio,
    import_upb,
    machine_summary,
    paired_ratio,
    percentile,
    print_table,
    proto_dir,
)
from _sandbox_proc import RAISED_RATE, SLOWEST_TICK_MS

from ctrader_sdk import (
    Client,
    ClientConfig,
    Endpoint,
    EventStream,
    FrameDecoder,
    RateLimits,
    decode_envelope,
)
from ctrader_sdk._generated.registry import RELEASE
from ctrader_sdk.messages import ProtoOASpotEvent
from ctrader_sdk.sandbox import SandboxConfig

HERE = Path(__file__).resolve().parent

ACCOUNT_OURS = 100_001  # two demo accounts of the sandbox's defaults: a burst for one
ACCOUNT_RAW = 100_002  # account reaches only the client that authorised it
SYMBOL = 1  # EURUSD
READ_CHUNK = 256 * 1024  # as the client's default read_chunk_size (and its reader's buffer limit)
TIMEOUT = 120.0  # seconds for one burst or one round of requests: a stuck run fails instead of hanging
WARMUP_EVENTS = 10_000  # the warm-up burst, also the input of the decode-only comparison
DECODE_PASSES = 3  # decode-only passes over the warm-up burst's bytes, after each burst

THROUGHPUT_TARGET = 0.35  # ours streams at least this fraction of the raw floor's events/s
LATENCY_TARGET = 1.5  # ours answers a request within this factor of the raw floor (p50)

#: (name, events/s as a fraction of the raw floor, time to answer a request): quoted, not measured here.
QUOTED = (
    ("official Python SDK", "~0.14×", "~1 s"),
    ("best asyncio fork", "~0.31×", "~200 ms"),
)

# Messages of the raw client are "Any": upb classes are generated at run time, so nothing is typed.
Tick = tuple[Any, Any, Any, Any]  # (symbolId, bid, ask, timestamp) as read from an event


# ---------------------------------------------------------------------------------------------
# The sandbox process


class SandboxProcess:
    """``bench/_sandbox_proc.py`` in a child process, driven through its standard input."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self._process = process
        self.port = port

    @property
    def pid(self) -> int:
        return self._process.pid

    @classmethod
    async def start(cls, tick_ms: int) -> SandboxProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "_sandbox_proc.py"),
            "--rate",
            str(RAISED_RATE),
            "--tick-ms",
            str(tick_ms),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        try:
            line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        except BaseException:
            process.kill()
            await process.wait()
            raise
        if not line.startswith("READY "):
            process.kill()
            await process.wait()
            raise RuntimeError(f"the sandbox process did not start: {line!r}")
        return cls(process, int(line.split()[1]))

    def trigger_push(self, account: int, symbol: int, count: int) -> None:
        """Ask for a burst now; :meth:`pushed` then waits for the answer."""
        assert self._process.stdin is not None
        self._process.stdin.write(f"push {account} {symbol} {count}\n".encode())

    async def pushed(self) -> int:
        """How many events the last burst queued (answered once its last frame is written)."""
        assert self._process.stdout is not None
        line = (await asyncio.wait_for(self._process.stdout.readline(), 120)).decode()
        if not line.startswith("OK "):
            raise RuntimeError(f"the sandbox refused the burst: {line!r}")
        return int(line.split()[1])

    async def stop(self) -> None:
        process = self._process
        if process.returncode is not None:
            return
        assert process.stdin is not None
        process.stdin.write(b"quit\n")
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()


# ---------------------------------------------------------------------------------------------
# What one burst or one request round gives


@dataclass
class Burst:
    """One burst as a client consumed it.

    ``decoded`` events were decoded between ``first`` reaching the consumer and ``last`` reaching it:
    the events decoded before the first reached the consumer are not counted, so a client that
    decodes a whole read before handing anything out is not favoured. Times are wall-clock
    (``perf_counter_ns``) and CPU time of the client's thread (``thread_time_ns``: what the client
    itself spent, whatever else the machine was doing).
    """

    first_ns: int
    last_ns: int
    first_cpu_ns: int
    last_cpu_ns: int
    decoded: int
    first: Tick
    last: Tick
    lead_ns: int  # from the trigger to the first event: mostly the sandbox encoding the burst
    dropped: int = 0
    read_size: float | None = None  # bytes per socket read (raw client only)

    @property
    def ns_per_event(self) -> float:
        return (self.last_ns - self.first_ns) / self.decoded

    @property
    def cpu_ns_per_event(self) -> float:
        return (self.last_cpu_ns - self.first_cpu_ns) / self.decoded


class Contender(Protocol):
    name: str

    async def burst(
        self, sandbox: SandboxProcess, count: int, tick_ms: int, profiler: cProfile.Profile | None = None
    ) -> Burst: ...

    async def version(self) -> str: ...


def burst_start_bound(count: int, tick_ms: int) -> int:
    """A timestamp (ms) the first event of a burst of ``count`` events triggered now is older than.

    The burst's first event is stamped ``count - 1`` ticks before now; a periodic event, with the
    current tick slot. Events newer than this bound that arrive before the burst (the periodic feed
    ticked while the sandbox was encoding the burst) are skipped instead of spoiling the measurement;
    only the first event is ever compared with it, so the per-event work is untouched.
    """
    return time.time_ns() // 1_000_000 - (count - 1) * tick_ms // 2


def is_exactly_the_burst(burst: Burst, count: int, tick_ms: int) -> bool:
    """Whether the ``count`` events consumed are the burst's and nothing else.

    The burst's events carry the timestamps of ``count`` consecutive tick slots, oldest first; the
    periodic feed (one tick per ``tick_ms``) stamps its events with the current slot. So the first
    event is the burst's first and the last its last, with nothing in between, exactly when the
    timestamps are ``count - 1`` ticks apart.
    """
    first_ts, last_ts = burst.first[3], burst.last[3]
    if first_ts is None or last_ts is None:
        return False
    return bool(last_ts - first_ts == (count - 1) * tick_ms)


# ---------------------------------------------------------------------------------------------
# Ours


class Ours:
    """ctrader_sdk's ``Client``, with its client-side rate limits raised out of the way."""

    name = "ours (ctrader_sdk)"

    def __init__(self, client: Client, account: int) -> None:
        self.client = client
        self.account = account

    @staticmethod
    def config() -> ClientConfig:
        # The limiter stays on (its bookkeeping is part of every request) but never waits.
        return ClientConfig(
            rate_limits=RateLimits(ordinary_per_second=RAISED_RATE, historical_per_second=RAISED_RATE)
        )

    @classmethod
    async def connect(cls, port: int, account: int, sandbox: SandboxConfig) -> Ours:
        client = await Client.connect(Endpoint("127.0.0.1", port), ssl=False, config=cls.config())
        await client.application_auth(client_id=sandbox.client_id, client_secret=sandbox.client_secret)
        await client.account_auth(ctid_trader_account_id=account, access_token=sandbox.access_token)
        await client.subscribe_spots(
            ctid_trader_account_id=account, symbol_id=[SYMBOL], subscribe_to_spot_timestamp=True
        )
        return cls(client, account)

    async def version(self) -> str:
        return (await self.client.version()).version

    async def burst(
        self, sandbox: SandboxProcess, count: int, tick_ms: int, profiler: cProfile.Profile | None = None
    ) -> Burst:
        # A stream per burst: it buffers from now on, and large enough never to drop.
        stream: EventStream[ProtoOASpotEvent] = self.client.events(ProtoOASpotEvent, buffer_size=2 * count)
        try:
            trigger_ns = time.perf_counter_ns()
            sandbox.trigger_push(self.account, SYMBOL, count)
            before = burst_start_bound(count, tick_ms)
            spot = await anext(stream)
            while spot.timestamp is None or spot.timestamp > before:  # a periodic event: not ours
                spot = await anext(stream)
            first_ns, first_cpu_ns = time.perf_counter_ns(), time.thread_time_ns()
            if profiler is not None:
                profiler.enable()
            already_decoded = 1 + stream.pending  # decoded with the first, before it reached us
            first: Tick = (spot.symbol_id, spot.bid, spot.ask, spot.timestamp)
            last = first
            n = 1
            if n < count:
                async for spot in stream:
                    last = (spot.symbol_id, spot.bid, spot.ask, spot.timestamp)
                    n += 1
                    if n == count:
                        break
            last_ns, last_cpu_ns = time.perf_counter_ns(), time.thread_time_ns()
            if profiler is not None:
                profiler.disable()
            return Burst(
                first_ns,
                last_ns,
                first_cpu_ns,
                last_cpu_ns,
                count - already_decoded,
                first,
                last,
                first_ns - trigger_ns,
                stream.dropped,
            )
        finally:
            stream.close()

    async def aclose(self) -> None:
        await self.client.close()


# ---------------------------------------------------------------------------------------------
# The raw floor: asyncio streams + google protobuf (upb), nothing else


@dataclass
class _RawBurst:
    want: int
    before: int  # burst_start_bound()
    done: asyncio.Future[tuple[int, int]]  # (perf_counter_ns, thread_time_ns) at the last event
    count: int = 0
    first_ns: int = 0
    first_cpu_ns: int = 0
    first: Tick = (None, None, None, None)
    last: Tick = (None, None, None, None)


@dataclass
class Raw:
    """The smallest client that does the same work: split 4-byte-length frames out of each read,
    parse the ``ProtoMessage`` envelope, then the spot event, and read the fields an application
    uses; send a framed request with a ``clientMsgId`` and await the answer with that id."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pb: ModuleType  # OpenApiMessages_pb2
    common: ModuleType  # OpenApiCommonMessages_pb2
    model: ModuleType  # OpenApiModelMessages_pb2
    name: str = "raw (asyncio + upb)"
    account: int = 0
    pending: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    reads: int = 0
    bytes_read: int = 0
    capture: list[bytes] | None = None  # when a list: every chunk read is appended to it
    _burst: _RawBurst | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, port: int, account: int, sandbox: SandboxConfig, pbs: dict[str, ModuleType]
    ) -> Raw:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=READ_CHUNK)
        raw = cls(
            reader,
            writer,
            pbs["OpenApiMessages_pb2"],
            pbs["OpenApiCommonMessages_pb2"],
            pbs["OpenApiModelMessages_pb2"],
        )
        raw._task = asyncio.get_running_loop().create_task(raw._read_loop())
        pb, model = raw.pb, raw.model
        await raw.call(
            model.PROTO_OA_APPLICATION_AUTH_REQ,
            pb.ProtoOAApplicationAuthReq(clientId=sandbox.client_id, clientSecret=sandbox.client_secret),
            model.PROTO_OA_APPLICATION_AUTH_RES,
        )
        await raw.call(
            model.PROTO_OA_ACCOUNT_AUTH_REQ,
            pb.ProtoOAAccountAuthReq(ctidTraderAccountId=account, accessToken=sandbox.access_token),
            model.PROTO_OA_ACCOUNT_AUTH_RES,
        )
        await raw.call(
            model.PROTO_OA_SUBSCRIBE_SPOTS_REQ,
            pb.ProtoOASubscribeSpotsReq(
                ctidTraderAccountId=account, symbolId=[SYMBOL], subscribeToSpotTimestamp=True
            ),
            model.PROTO_OA_SUBSCRIBE_SPOTS_RES,
        )
        raw.account = account
        return raw

    async def call(self, payload_type: int, request: Any, answer_type: int) -> Any:
        """Send ``request`` and return the envelope of its answer (an error answer raises)."""
        msg_id = str(next(self._ids))
        body = self.common.ProtoMessage(
            payloadType=payload_type, payload=request.SerializeToString(), clientMsgId=msg_id
        ).SerializeToString()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[msg_id] = future
        self.writer.write(len(body).to_bytes(4, "big") + body)
        envelope = await future
        if envelope.payloadType != answer_type:
            raise RuntimeError(f"payload type {envelope.payloadType} answered {payload_type}")
        return envelope

    async def version(self) -> str:
        envelope = await self.call(
            self.model.PROTO_OA_VERSION_REQ, self.pb.ProtoOAVersionReq(), self.model.PROTO_OA_VERSION_RES
        )
        answer = self.pb.ProtoOAVersionRes()
        answer.ParseFromString(envelope.payload)
        version: str = answer.version
        return version

    async def _read_loop(self) -> None:
        read = self.reader.read
        envelope_cls = self.common.ProtoMessage
        spot_cls = self.pb.ProtoOASpotEvent
        spot_type = self.model.PROTO_OA_SPOT_EVENT
        pending = self.pending
        unpack_from = struct.Struct(">I").unpack_from
        clock = time.perf_counter_ns
        cpu_clock = time.thread_time_ns
        rest = b""
        try:
            while True:
                data = await read(READ_CHUNK)
                if not data:
                    raise ConnectionError("the sandbox closed the connection")
                self.reads += 1
                self.bytes_read += len(data)
                if self.capture is not None:
                    self.capture.append(data)
                if rest:
                    data = rest + data
                end = len(data)
                pos = 0
                while end - pos >= 4:
                    stop = pos + 4 + unpack_from(data, pos)[0]
                    if stop > end:
                        break
                    envelope = envelope_cls()
                    envelope.ParseFromString(data[pos + 4 : stop])
                    pos = stop
                    if envelope.payloadType == spot_type:
                        spot = spot_cls()
                        spot.ParseFromString(envelope.payload)
                        tick = (spot.symbolId, spot.bid, spot.ask, spot.timestamp)
                        burst = self._burst
                        if burst is not None:
                            n = burst.count = burst.count + 1
                            if n == 1:
                                if tick[3] > burst.before:  # a periodic event, before the burst
                                    burst.count = 0
                                    continue
                                burst.first_ns, burst.first_cpu_ns = clock(), cpu_clock()
                                burst.first = tick
                            if n == burst.want:
                                burst.last = tick
                                self._burst = None
                                burst.done.set_result((clock(), cpu_clock()))
                    elif envelope.clientMsgId:
                        future = pending.pop(envelope.clientMsgId, None)
                        if future is not None and not future.done():
                            future.set_result(envelope)
                rest = data[pos:]
        except Exception as exc:
            for future in pending.values():
                if not future.done():
                    future.set_exception(exc)
            burst = self._burst
            if burst is not None and not burst.done.done():
                burst.done.set_exception(exc)
            if not isinstance(exc, ConnectionError):
                raise

    async def burst(
        self, sandbox: SandboxProcess, count: int, tick_ms: int, profiler: cProfile.Profile | None = None
    ) -> Burst:
        loop = asyncio.get_running_loop()
        burst = _RawBurst(count, burst_start_bound(count, tick_ms), loop.create_future())
        self._burst = burst
        reads, bytes_read = self.reads, self.bytes_read
        trigger_ns = time.perf_counter_ns()
        try:
            sandbox.trigger_push(self.account, SYMBOL, count)
            last_ns, last_cpu_ns = await burst.done
        finally:
            self._burst = None
        if burst.first_ns == 0:
            raise RuntimeError("the raw client saw no event")
        result = Burst(
            burst.first_ns,
            last_ns,
            burst.first_cpu_ns,
            last_cpu_ns,
            count - 1,
            burst.first,
            burst.last,
            burst.first_ns - trigger_ns,
        )
        result.read_size = (self.bytes_read - bytes_read) / max(1, self.reads - reads)
        return result

    async def aclose(self) -> None:
        self.writer.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await asyncio.wait_for(self.writer.wait_closed(), 5)
        except (OSError, asyncio.TimeoutError):
            self.writer.transport.abort()


# ---------------------------------------------------------------------------------------------
# Decoding alone: the same frames from memory, no socket, no event loop


def ours_decode_only(chunks: Sequence[bytes]) -> tuple[int, Tick]:
    """Ours without the client around its codec: ``FrameDecoder`` + ``decode_envelope`` + field reads."""
    feed = FrameDecoder().feed
    decode = decode_envelope
    spot_type = ProtoOASpotEvent.PAYLOAD_TYPE
    spot: Any
    n = 0
    last: Tick = (None, None, None, None)
    for chunk in chunks:
        for body in feed(chunk):
            payload_type, spot, _ = decode(body)
            if payload_type == spot_type:
                last = (spot.symbol_id, spot.bid, spot.ask, spot.timestamp)
                n += 1
    return n, last


def raw_decode_only(chunks: Sequence[bytes], pbs: dict[str, ModuleType]) -> tuple[int, Tick]:
    """The raw client's read loop without the socket: split, parse the envelope and the event, read."""
    envelope_cls = pbs["OpenApiCommonMessages_pb2"].ProtoMessage
    spot_cls = pbs["OpenApiMessages_pb2"].ProtoOASpotEvent
    spot_type = pbs["OpenApiModelMessages_pb2"].PROTO_OA_SPOT_EVENT
    unpack_from = struct.Struct(">I").unpack_from
    n = 0
    last: Tick = (None, None, None, None)
    rest = b""
    for data in chunks:
        if rest:
            data = rest + data
        end = len(data)
        pos = 0
        while end - pos >= 4:
            stop = pos + 4 + unpack_from(data, pos)[0]
            if stop > end:
                break
            envelope = envelope_cls()
            envelope.ParseFromString(data[pos + 4 : stop])
            pos = stop
            if envelope.payloadType == spot_type:
                spot = spot_cls()
                spot.ParseFromString(envelope.payload)
                last = (spot.symbolId, spot.bid, spot.ask, spot.timestamp)
                n += 1
        rest = data[pos:]
    return n, last


def decode_input(captured: Sequence[bytes], pbs: dict[str, ModuleType]) -> tuple[list[bytes], int]:
    """The bytes of a burst as the sandbox sent them, re-cut into reads of ``READ_CHUNK``, once both
    decoders read the same events from them; and how many spot events they hold."""
    data = b"".join(captured)
    chunks = [data[i : i + READ_CHUNK] for i in range(0, len(data), READ_CHUNK)]
    got_ours, got_raw = ours_decode_only(chunks), raw_decode_only(chunks, pbs)
    if got_ours != got_raw or got_ours[0] == 0:
        raise RuntimeError(f"decoders disagree on the captured burst: ours {got_ours}, raw {got_raw}")
    return chunks, got_ours[0]


def time_decode(decode: Callable[[], object], events: int, passes: int = DECODE_PASSES) -> float:
    """CPU ns per event of ``passes`` calls of ``decode`` (over ``events`` events), GC paused."""
    gc.collect()
    gc.disable()
    try:
        start = time.thread_time_ns()
        for _ in range(passes):
            decode()
        return (time.thread_time_ns() - start) / (passes * events)
    finally:
        gc.enable()


# ---------------------------------------------------------------------------------------------
# Measurements


@dataclass
class Results:
    """Per-round figures of one contender; ``Bench`` holds the samples so ``paired_ratio`` applies."""

    name: str
    stream: Bench  # ns per event, one sample per burst
    cpu: Bench  # CPU ns of the client's thread per event, one sample per burst
    p50: Bench  # round trip, ns
    p99: Bench
    decode: Bench  # CPU ns per event decoding frames from memory (no socket, no loop), after each burst
    leads: list[float] = field(default_factory=list)  # ns from trigger to the first event
    read_sizes: list[float] = field(default_factory=list)  # bytes per socket read (raw only)
    dropped: int = 0
    retried: int = 0


def _holder(name: str) -> Bench:
    return Bench(name, fn=lambda: None)


async def measure_burst(
    contender: Contender,
    sandbox: SandboxProcess,
    count: int,
    tick_ms: int,
    results: Results | None,
    profiler: cProfile.Profile | None = None,
) -> Burst:
    """One burst of ``count`` events, again (up to 3 times) when a periodic event slipped in."""
    for attempt in range(3):
        gc.collect()
        burst = await asyncio.wait_for(contender.burst(sandbox, count, tick_ms, profiler), TIMEOUT)
        pushed = await sandbox.pushed()
        if pushed != count:
            raise RuntimeError(f"the sandbox queued {pushed} events, not {count}")
        # An answer comes after every event sent before it: once here, the burst is all received.
        await contender.version()
        if is_exactly_the_burst(burst, count, tick_ms):
            for tick in (burst.first, burst.last):  # burst events carry the symbol and both sides
                if tick[0] != SYMBOL or not tick[1] or not tick[2]:
                    raise RuntimeError(f"{contender.name}: unexpected event in the burst: {tick}")
            if results is not None:
                results.stream.samples.append(burst.ns_per_event)
                results.cpu.samples.append(burst.cpu_ns_per_event)
                results.leads.append(burst.lead_ns)
                if burst.read_size is not None:
                    results.read_sizes.append(burst.read_size)
                results.dropped += burst.dropped
                results.retried += attempt
            return burst
        if profiler is not None:
            profiler.clear()
    raise RuntimeError(f"{contender.name}: 3 bursts in a row were not exactly the burst")


async def round_trips(contender: Contender, count: int) -> list[int]:
    """``count`` sequential version requests, each timed from the call to the answer in hand (ns)."""
    clock = time.perf_counter_ns
    version = contender.version
    times = []
    for _ in range(count):
        start = clock()
        await version()
        times.append(clock() - start)
    return times


# ---------------------------------------------------------------------------------------------
# Report


def fmt_rate(ns_per_event: float) -> str:
    return f"{1e9 / ns_per_event:,.0f}"


def spread(bench: Bench, fmt: Callable[[float], str], *, rate: bool = False) -> str:
    """``median (low – high)`` of a bench's samples, formatted by ``fmt``; with ``rate`` the samples
    are times per event shown as rates, so the smallest time is the highest rate."""
    low, high = min(bench.samples), max(bench.samples)
    if rate:
        low, high = high, low
    return f"{fmt(bench.stats.median)} ({fmt(low)} – {fmt(high)})"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(ours: Results, raw: Results, args: argparse.Namespace, decoded_events: int) -> None:
    throughput = paired_ratio(raw.stream, ours.stream)  # events/s ours/raw = time raw/time ours
    cpu_throughput = paired_ratio(raw.cpu, ours.cpu)  # the same from CPU time: less sensitive to load
    p50 = paired_ratio(ours.p50, raw.p50)
    p99 = paired_ratio(ours.p99, raw.p99)
    if args.verbose:
        print("\nPer round (stream: events/s; requests: p50 / p99)")
        rounds = max(len(ours.stream.samples), len(ours.p50.samples))
        per_round = []
        for i in range(rounds):
            row = [str(i + 1)]
            streamed = i < len(ours.stream.samples)
            for samples in (ours.stream.samples, raw.stream.samples):
                row.append(fmt_rate(samples[i]) if streamed else "")
            row.append(fmt_ratio(raw.stream.samples[i] / ours.stream.samples[i]) if streamed else "")
            for r in (ours, raw):
                row.append(
                    f"{fmt_ns(r.p50.samples[i])} / {fmt_ns(r.p99.samples[i])}"
                    if i < len(r.p50.samples)
                    else ""
                )
            per_round.append(row)
        headers = ["round", "ours events/s", "raw events/s", "ours/raw", "ours requests", "raw requests"]
        print_table(headers, per_round)
    print(
        f"\nOver loopback, plain TCP, sandbox in its own process: {args.rounds} bursts of "
        f"{args.events:,} spot events and {args.request_rounds} rounds of {args.requests:,} sequential "
        f"version() calls per client.\nMedian over rounds (min – max); ours/raw: median of per-round "
        f"ratios; best/best: ratio of the two best rounds (closest to an idle machine)."
    )
    rows = [
        [
            "spot events/s",
            spread(ours.stream, fmt_rate, rate=True),
            spread(raw.stream, fmt_rate, rate=True),
            fmt_ratio(throughput),
            fmt_ratio(min(raw.stream.samples) / min(ours.stream.samples)),
            f"≥ {THROUGHPUT_TARGET:.2f}×",
            verdict(throughput >= THROUGHPUT_TARGET),
        ],
        [
            "  per CPU-second of the client",
            spread(ours.cpu, fmt_rate, rate=True),
            spread(raw.cpu, fmt_rate, rate=True),
            fmt_ratio(cpu_throughput),
            fmt_ratio(min(raw.cpu.samples) / min(ours.cpu.samples)),
            f"(≥ {THROUGHPUT_TARGET:.2f}×)",
            f"({verdict(cpu_throughput >= THROUGHPUT_TARGET)})",
        ],
        [
            "version() round trip p50",
            spread(ours.p50, fmt_ns),
            spread(raw.p50, fmt_ns),
            fmt_ratio(p50),
            fmt_ratio(min(ours.p50.samples) / min(raw.p50.samples)),
            f"≤ {LATENCY_TARGET:.1f}×",
            verdict(p50 <= LATENCY_TARGET),
        ],
        [
            "version() round trip p99",
            spread(ours.p99, fmt_ns),
            spread(raw.p99, fmt_ns),
            fmt_ratio(p99),
            fmt_ratio(min(ours.p99.samples) / min(raw.p99.samples)),
            "",
            "",
        ],
    ]
    print_table(["", ours.name, raw.name, "ours/raw", "best/best", "target", ""], rows)

    print(
        f"\nWhere a spot event's time goes (µs per event, medians over rounds). Decoding alone: CPU time "
        f"to decode the frames of a\n{decoded_events:,}-event burst captured from the sandbox, from "
        f"memory (no socket, no event loop, GC paused), right after each burst"
    )
    ours_stream, raw_stream = ours.stream.stats.median, raw.stream.stats.median
    ours_decode, raw_decode = ours.decode.stats.median, raw.decode.stats.median
    rows = [
        [
            "through the socket, wall clock (as above)",
            f"{ours_stream / 1e3:.2f}",
            f"{raw_stream / 1e3:.2f}",
            fmt_ratio(paired_ratio(ours.stream, raw.stream)),
        ],
        [
            "  of which CPU time of the client's thread",
            f"{ours.cpu.stats.median / 1e3:.2f}",
            f"{raw.cpu.stats.median / 1e3:.2f}",
            fmt_ratio(paired_ratio(ours.cpu, raw.cpu)),
        ],
        [
            "decoding alone",
            f"{ours_decode / 1e3:.2f}",
            f"{raw_decode / 1e3:.2f}",
            fmt_ratio(paired_ratio(ours.decode, raw.decode)),
        ],
        [
            "CPU time minus decoding alone: reads, dispatch, delivery, GC",
            f"{_rest(ours) / 1e3:.2f}",
            f"{_rest(raw) / 1e3:.2f}",
            "",
        ],
    ]
    print_table(["µs per spot event", ours.name, raw.name, "ours/raw"], rows)

    print(
        "\nFor scale: other Python clients against their raw floor (quoted from the issue, NOT measured here)"
    )
    quoted = [[name, f"{streams} raw", answer] for name, streams, answer in QUOTED]
    quoted.append(
        [
            "ctrader_sdk (measured above)",
            f"{fmt_ratio(throughput)} raw",
            fmt_ns(ours.p50.stats.median),
        ]
    )
    print_table(["client", "spot events/s", "request answered in"], quoted)

    lead = statistics.median(ours.leads + raw.leads)
    read_size = statistics.median(raw.read_sizes) if raw.read_sizes else 0.0
    if read_size > READ_CHUNK / 4:
        paced = "the sandbox writes faster than even the floor reads"
    else:
        paced = "WARNING: small reads, the sandbox may be what limits the floor"
    print(
        "\nChecks:\n"
        f"  ours dropped {ours.dropped} events (stream buffer {2 * args.events:,});\n"
        f"  bursts re-run because a periodic event slipped in: ours {ours.retried}, raw {raw.retried};\n"
        f"  the raw client read {read_size / 1024:.0f} KiB per read (of {READ_CHUNK // 1024} KiB asked): "
        f"{paced};\n"
        f"  sandbox lead (trigger → first event: it encodes the whole burst first; not timed) {fmt_ns(lead)}"
    )


def _rest(results: Results) -> float:
    """Median over rounds of the client's CPU ns per event beyond decoding (both from the same round)."""
    return statistics.median(
        cpu - decode for cpu, decode in zip(results.cpu.samples, results.decode.samples, strict=True)
    )


def report_profile(profiler: cProfile.Profile, burst: Burst, count: int, top: int) -> None:
    """The client's receive path during one profiled burst: the functions with the most own time."""
    stats = pstats.Stats(profiler)
    entries: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in entries.values())
    events = burst.decoded
    print(
        f"\nProfile of ours during one {count:,}-event burst, from the first event to the last "
        f"({events:,} decoded meanwhile),\nwith cProfile, which slows Python calls "
        f"({1e9 / burst.ns_per_event:,.0f} events/s under it): the top {top} by own time, per event"
    )
    rows = []
    for (file, line, func), (_, calls, tt, ct, _) in sorted(
        entries.items(), key=lambda item: item[1][2], reverse=True
    )[:top]:
        where = func if file == "~" else f"{_short(file)}:{line} {func}"
        rows.append(
            [
                where,
                f"{calls:,}",
                f"{calls / events:.2f}",
                f"{tt * 1e9 / events:,.0f} ns",
                f"{tt / total:.0%}",
                f"{ct * 1e9 / events:,.0f} ns",
            ]
        )
    print_table(["function", "calls", "per event", "own/event", "own %", "cumulative/event"], rows)


def _short(file: str) -> str:
    path = Path(file)
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return path.name


# ---------------------------------------------------------------------------------------------
# Main


async def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    print(f"ctrader_sdk client benchmark, proto release {RELEASE}")
    print(machine_summary())
    pbs = import_upb(proto_dir(RELEASE), OUT / "upb-client")
    defaults = SandboxConfig()
    sandbox = await SandboxProcess.start(args.tick_ms)
    print(
        f"Sandbox: pid {sandbox.pid}, port {sandbox.port}, plain TCP; rate limits raised to "
        f"{RAISED_RATE:,}/s per connection (SandboxConfig.rate_limit_per_second and "
        f"historical_rate_limit_per_second), periodic feed one tick per {args.tick_ms / 1000:g} s.\n"
        f"Ours: ClientConfig(rate_limits=RateLimits(ordinary_per_second={RAISED_RATE:,}, "
        f"historical_per_second={RAISED_RATE:,})): the limiter runs but never waits; "
        f"events(ProtoOASpotEvent, buffer_size={2 * args.events:,})."
    )
    ours: Ours | None = None
    raw: Raw | None = None
    try:
        ours = await Ours.connect(sandbox.port, ACCOUNT_OURS, defaults)
        raw = await Raw.connect(sandbox.port, ACCOUNT_RAW, defaults, pbs)
        versions = await ours.version(), await raw.version()
        if versions[0] != versions[1]:
            raise RuntimeError(f"the clients read different versions: {versions}")
        contenders: tuple[Contender, Contender] = (ours, raw)
        results = {
            c.name: Results(
                c.name,
                _holder(f"{c.name} stream"),
                _holder(f"{c.name} cpu"),
                _holder(f"{c.name} p50"),
                _holder(f"{c.name} p99"),
                _holder(f"{c.name} decode"),
            )
            for c in contenders
        }

        # Warm-up: a small burst and a few hundred requests each (caches, lazy imports, socket buffers).
        # The raw client keeps the bytes of its warm-up burst for the decode-only comparison.
        raw.capture = []
        for contender in contenders:
            await measure_burst(contender, sandbox, min(args.events, WARMUP_EVENTS), args.tick_ms, None)
            await round_trips(contender, args.warmup)
        chunks, decode_events = decode_input(raw.capture, pbs)
        raw.capture = None
        decoders: dict[str, Callable[[], object]] = {
            ours.name: lambda: ours_decode_only(chunks),
            raw.name: lambda: raw_decode_only(chunks, pbs),
        }

        for round_no in range(args.rounds):
            for contender in contenders if round_no % 2 == 0 else contenders[::-1]:
                result = results[contender.name]
                await measure_burst(contender, sandbox, args.events, args.tick_ms, result)
                # Right after the burst, so the two figures of a round saw the same machine load.
                result.decode.samples.append(time_decode(decoders[contender.name], decode_events))
            _progress("stream", round_no + 1, args.rounds)

        for round_no in range(args.request_rounds):
            for contender in contenders if round_no % 2 == 0 else contenders[::-1]:
                gc.collect()
                times = await asyncio.wait_for(round_trips(contender, args.requests), TIMEOUT)
                results[contender.name].p50.samples.append(percentile(times, 50))
                results[contender.name].p99.samples.append(percentile(times, 99))
            _progress("requests", round_no + 1, args.request_rounds)

        report(results[ours.name], results[raw.name], args, decode_events)
        if args.profile:
            profiler = cProfile.Profile()
            burst = await measure_burst(ours, sandbox, args.events, args.tick_ms, None, profiler)
            report_profile(profiler, burst, args.events, args.profile_top)
    finally:
        for contender_ in (ours, raw):
            if contender_ is not None:
                await contender_.aclose()
        await sandbox.stop()
    print(f"\nDone in {time.perf_counter() - started:.0f} s; {machine_summary()}")
    return 0


def _progress(what: str, done: int, total: int) -> None:
    if sys.stderr.isatty():
        end = "\n" if done == total else ""
        print(f"\r  {what} round {done}/{total}", end=end, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Client benchmark against the sandbox (see bench/README.md)."
    )
    parser.add_argument("--events", type=int, default=100_000, help="spot events per burst (default: 100000)")
    parser.add_argument("--rounds", type=int, default=7, help="bursts per client (default: 7)")
    parser.add_argument("--requests", type=int, default=1_000, help="requests per round (default: 1000)")
    parser.add_argument("--request-rounds", type=int, default=5, help="request rounds (default: 5)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests per client (default: 200)")
    parser.add_argument(
        "--tick-ms", type=int, default=SLOWEST_TICK_MS, help="sandbox periodic feed interval (default: 15000)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="then profile ours (cProfile) during one more burst"
    )
    parser.add_argument("--profile-top", type=int, default=20, help="functions shown by --profile")
    parser.add_argument("--verbose", action="store_true", help="also print every round's figures")
    args = parser.parse_args(argv)
    if args.events < 2 or min(args.rounds, args.requests, args.request_rounds) < 1:
        parser.error("need --events >= 2 and at least one round and one request")
    return asyncio.run(run(args), debug=False)  # asyncio debug mode would time its own checks


if __name__ == "__main__":
    sys.exit(main())
