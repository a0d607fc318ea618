"""The sandbox in its own process, for ``bench/client.py``: client and server must not share a core.

Run as ``python bench/_sandbox_proc.py [--rate N] [--tick-ms MS]``. It starts
:class:`~ctrader_sdk.sandbox.Sandbox` on 127.0.0.1 (plain TCP, a free port) with its per-connection
rate limits raised to ``--rate`` requests per second (the vendor's 50/s would throttle the benchmark's
sequential requests) and its periodic price feed slowed to one tick every ``--tick-ms`` milliseconds
(15,000, the slowest the sandbox allows: at most one periodic spot event per subscription per 15 s), then
prints ``READY <port>`` and serves control commands, one per line, on standard input:

``push <account> <symbol> <count>``
    ``await sandbox.push_spots(account, symbol, count)``: a burst of ``count`` spot events to every
    connection where the account is authorised and subscribed to the symbol. Answers ``OK <queued>``
    once the last frame is handed to the socket.
``quit`` (or end of input)
    Stop the sandbox and exit.

A command that fails answers ``ERR <reason>``. Nothing else is written to standard output; the sandbox
logs warnings and errors to standard error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from ctrader_sdk.sandbox import Sandbox, SandboxConfig

SLOWEST_TICK_MS = 15_000  # the sandbox needs at least 4 ticks a minute
RAISED_RATE = 1_000_000  # requests per second and per connection: never reached by the benchmark


def sandbox_config(rate: int, tick_ms: int) -> SandboxConfig:
    """Plain TCP on a free port, rate limits raised to ``rate``/s, one periodic tick every ``tick_ms``."""
    return SandboxConfig(
        rate_limit_per_second=rate,
        historical_rate_limit_per_second=rate,
        tick_interval_ms=tick_ms,
        tls=False,
        port=0,
    )


async def _stdin_reader() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def _command(sandbox: Sandbox, words: list[str]) -> str:
    if len(words) == 4 and words[0] == "push":
        account, symbol, count = (int(w) for w in words[1:])
        return f"OK {await sandbox.push_spots(account, symbol, count)}"
    return f"ERR unknown command {' '.join(words)!r}"


async def serve(config: SandboxConfig) -> None:
    """Run the sandbox and answer commands until ``quit`` or the end of standard input."""
    commands = await _stdin_reader()
    async with Sandbox(config) as sandbox:
        print(f"READY {sandbox.port}", flush=True)
        while True:
            line = await commands.readline()
            words = line.decode().split()
            if not line or words == ["quit"]:
                return
            if not words:
                continue
            try:
                answer = await _command(sandbox, words)
            except Exception as exc:  # a bad command must not take the server down
                answer = f"ERR {type(exc).__name__}: {exc}"
            print(answer, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The sandbox for bench/client.py (see its docstring).")
    parser.add_argument("--rate", type=int, default=RAISED_RATE, help="requests/s per connection allowed")
    parser.add_argument(
        "--tick-ms", type=int, default=SLOWEST_TICK_MS, help="periodic feed interval (milliseconds)"
    )
    args = parser.parse_args(argv)
    asyncio.run(serve(sandbox_config(args.rate, args.tick_ms)), debug=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
