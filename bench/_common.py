"""Helpers shared by the benchmarks in ``bench/``.

- a timing loop that is robust to a noisy machine: each benchmark is calibrated to a batch of
  ``number`` calls lasting a few tens of milliseconds, then all benchmarks run round-robin for
  ``rounds`` rounds, so a burst of load from another process hits every contender alike;
  the median over rounds is the result and the min is printed next to it to show the spread;
- nearest-rank percentiles of latency samples, plain-text tables and time formatting;
- import timing in fresh interpreters, with bytecode compiled first (as for an installed wheel);
- building the reference modules: google protobuf (upb) and betterproto2 output for a proto release.

Nothing here asserts on timings: benchmarks report, tests check behaviour.
"""

from __future__ import annotations

import gc
import importlib
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
"""The repository root."""

OUT = ROOT / "bench" / ".out"
"""Git-ignored folder for everything the benchmarks generate."""

__all__ = [
    "OUT",
    "ROOT",
    "Bench",
    "Stats",
    "build_betterproto2",
    "build_upb",
    "bytecode_env",
    "calibrate",
    "compile_bytecode",
    "count_bytecodes",
    "fmt_ns",
    "fmt_ratio",
    "import_betterproto2",
    "import_error",
    "import_upb",
    "machine_summary",
    "paired_ratio",
    "percentile",
    "print_table",
    "proto_dir",
    "run_round_robin",
    "time_imports",
]


# ---------------------------------------------------------------------------------------------
# Statistics and timing


@dataclass(frozen=True)
class Stats:
    """Per-call times (ns) of each round of one benchmark."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)


@dataclass
class Bench:
    """One timed operation: ``fn`` is called ``number`` times per round (``number`` set by calibration)."""

    name: str
    fn: Callable[[], object]
    number: int = 0
    samples: list[float] = field(default_factory=list)

    @property
    def stats(self) -> Stats:
        if not self.samples:
            raise RuntimeError(f"benchmark {self.name!r} has not run")
        return Stats(tuple(self.samples))


def _time_batch(fn: Callable[[], object], number: int) -> int:
    """Total ns for ``number`` calls of ``fn``; the garbage collector is paused, as :mod:`timeit` does."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(number):
            fn()
        return time.perf_counter_ns() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def calibrate(fn: Callable[[], object], target_ns: int) -> int:
    """How many calls of ``fn`` make a batch of about ``target_ns`` (at least one call).

    Takes the fastest of a few short probes, so a momentary stall does not shrink the batch.
    """
    number = 1
    while True:
        elapsed = min(_time_batch(fn, number) for _ in range(3))
        if elapsed >= target_ns // 10 or elapsed * 3 >= target_ns:
            break
        number *= 10
    per_call = max(elapsed / number, 1.0)
    return max(1, round(target_ns / per_call))


def run_round_robin(
    benches: Sequence[Bench],
    *,
    rounds: int,
    target_ns: int,
    warmup_rounds: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Calibrate each benchmark, then time them all round-robin; append per-call ns to ``samples``.

    Interleaving means slow drift in machine load (other processes, thermal throttling) affects
    every benchmark about equally, which keeps the ratios between them meaningful. A full
    collection before each round keeps garbage from one benchmark out of the next one's batch.
    """
    for bench in benches:
        bench.fn()  # first call: imports, caches, lazy descriptor work
        bench.number = calibrate(bench.fn, target_ns)
        bench.samples.clear()
    for round_no in range(warmup_rounds + rounds):
        for bench in benches:
            gc.collect()
            elapsed = _time_batch(bench.fn, bench.number)
            if round_no >= warmup_rounds:
                bench.samples.append(elapsed / bench.number)
        if progress is not None:
            progress(round_no + 1, warmup_rounds + rounds)


def paired_ratio(a: Bench, b: Bench) -> float:
    """Median over rounds of ``a``'s time over ``b``'s time in the same round.

    Both ran moments apart in each round, so a round slowed down by other load tends to slow both:
    pairing them keeps that out of the ratio better than dividing the two medians.
    """
    if len(a.samples) != len(b.samples) or not a.samples:
        raise ValueError(f"{a.name!r} and {b.name!r} did not run the same rounds")
    return statistics.median(x / y for x, y in zip(a.samples, b.samples, strict=True))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 < q <= 100) of ``values`` by the nearest-rank method: a value that
    was measured, never an interpolation between two (p50 of 1,000 samples is the 500th smallest,
    p99 the 990th)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError("q must be in (0, 100]")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def count_bytecodes(fn: Callable[[], object]) -> int:
    """How many bytecode instructions one call of ``fn`` executes, in every Python frame it enters.

    Unlike a time, this does not depend on machine load: it shows whether a change to generated code
    made the interpreter do less work, even when timings are too noisy to tell. Calls into C count
    as the one instruction that makes them (upb's work is invisible here).
    """
    count = 0

    def trace_opcodes(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if event == "call":
            frame.f_trace_opcodes = True
        elif event == "opcode":
            count += 1
        return trace_opcodes

    previous = sys.gettrace()
    sys.settrace(trace_opcodes)
    try:
        fn()
    finally:
        sys.settrace(previous)
    return count


# ---------------------------------------------------------------------------------------------
# Formatting


def fmt_ns(ns: float) -> str:
    """A duration in the most readable unit, 3 significant digits: ``1.52 µs``, ``7.31 ms``."""
    unit, value = "ns", ns
    for name, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            unit, value = name, ns / scale
            break
    digits = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{digits}f} {unit}"


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.1f}×"


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, left: int = 1) -> None:
    """Print a plain-text table; the first ``left`` columns are left-aligned, the rest right-aligned."""
    body = [list(row) for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in body:
        print(line(row))


def machine_summary() -> str:
    """Interpreter, CPU count and load average: what to read the numbers against."""
    load = "n/a"
    if hasattr(os, "getloadavg"):
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{os.cpu_count()} CPUs, load average (1/5/15 min) {load}"
    )


# ---------------------------------------------------------------------------------------------
# Import timing in fresh interpreters


def bytecode_env(extra_path: Sequence[Path] = ()) -> dict[str, str]:
    """The environment for child interpreters: bytecode writing allowed, ``extra_path`` importable."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if extra_path:
        parts = [str(p) for p in extra_path]
        if env.get("PYTHONPATH"):
            parts.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def compile_bytecode(paths: Iterable[Path]) -> list[str]:
    """Write ``.pyc`` files for every module under ``paths`` in a child interpreter.

    A child, because this process may run with ``PYTHONDONTWRITEBYTECODE`` set; an installed wheel
    ships (or compiles at install time) its bytecode, so that is what import timings should see.
    Returns the files that did not compile (e.g. a module being written), so the caller can warn.
    """
    result = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *(str(p) for p in paths)],
        capture_output=True,
        text=True,
        env=bytecode_env(),
    )
    prefix = "*** Error compiling "
    return [
        line[len(prefix) :].rstrip(".").strip("'")
        for line in result.stdout.splitlines()
        if line.startswith(prefix)
    ]


_IMPORT_PROBE = """\
import time
_t0 = time.perf_counter()
{statement}
print(time.perf_counter() - _t0)
"""


def time_imports(
    statements: Mapping[str, str],
    *,
    runs: int,
    extra_path: Sequence[Path] = (),
    cwd: Path = ROOT,
) -> dict[str, Stats]:
    """Time each import ``statement`` (in seconds) in ``runs`` fresh interpreters, round-robin.

    Only the statement is timed (``perf_counter`` around it), not interpreter start-up.
    Raises :class:`subprocess.CalledProcessError` if a statement fails.
    """
    env = bytecode_env(extra_path)
    samples: dict[str, list[float]] = {label: [] for label in statements}
    for _ in range(runs):
        for label, statement in statements.items():
            result = subprocess.run(
                [sys.executable, "-c", _IMPORT_PROBE.format(statement=statement)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
                cwd=cwd,
            )
            samples[label].append(float(result.stdout.strip().splitlines()[-1]))
    return {label: Stats(tuple(values)) for label, values in samples.items()}


def import_error(statement: str, *, extra_path: Sequence[Path] = (), cwd: Path = ROOT) -> str | None:
    """``None`` if ``statement`` runs in a fresh interpreter, else the last line of its traceback
    (e.g. a name that is not written yet)."""
    result = subprocess.run(
        [sys.executable, "-c", statement],
        capture_output=True,
        text=True,
        env=bytecode_env(extra_path),
        cwd=cwd,
    )
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


# ---------------------------------------------------------------------------------------------
# Reference implementations, built from the same .proto release


def proto_dir(release: str) -> Path:
    """The folder holding the ``.proto`` files of ``release`` (fetched by ``make proto``)."""
    folder = ROOT / "proto" / release
    if not any(folder.glob("*.proto")):
        raise SystemExit(f"no .proto files in {folder}: run `make proto` first")
    return folder


def _protoc(args: Sequence[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", *args], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"protoc {' '.join(args)} failed:\n{result.stderr}")


def _fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def build_upb(protos: Path, out: Path) -> list[str]:
    """Compile ``protos/*.proto`` with ``protoc --python_out`` into ``out``; return the module names."""
    _fresh_dir(out)
    files = sorted(p.name for p in protos.glob("*.proto"))
    _protoc([f"-I{protos}", f"--python_out={out}", *files])
    return sorted(p.stem for p in out.glob("*_pb2.py"))


def import_upb(protos: Path, out: Path) -> dict[str, ModuleType]:
    """Build (see :func:`build_upb`) and import the google protobuf modules, by module name.

    Fails if google protobuf does not run on its upb (C) backend, the baseline these benchmarks want.
    """
    from google.protobuf.internal import api_implementation

    if api_implementation.Type() != "upb":
        raise RuntimeError(f"google protobuf runs on {api_implementation.Type()!r}, not upb")
    names = build_upb(protos, out)
    sys.path.insert(0, str(out))
    return {name: importlib.import_module(name) for name in names}


def build_betterproto2(protos: Path, out: Path, package: str) -> None:
    """Generate betterproto2 code for ``protos/*.proto`` as the package ``out/package``.

    The vendor's files declare no proto ``package``, so the compiler writes one ``__init__.py``
    (plus ``message_pool.py``) at the root of its output folder: that folder becomes the package.
    """
    plugin = Path(sys.executable).with_name("protoc-gen-python_betterproto2")
    if not plugin.exists():
        raise RuntimeError(f"{plugin} not found: install betterproto2-compiler (pip install -e '.[dev]')")
    target = _fresh_dir(out / package)
    files = sorted(p.name for p in protos.glob("*.proto"))
    _protoc(
        [
            f"-I{protos}",
            f"--plugin=protoc-gen-python_betterproto2={plugin}",
            f"--python_betterproto2_out={target}",
            *files,
        ]
    )


def import_betterproto2(protos: Path, out: Path, package: str) -> ModuleType:
    """Build (see :func:`build_betterproto2`) and import the betterproto2 package."""
    build_betterproto2(protos, out, package)
    sys.path.insert(0, str(out))
    return importlib.import_module(package)
