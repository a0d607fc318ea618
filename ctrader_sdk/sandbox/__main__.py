"""Run the sandbox on its own: ``python -m ctrader_sdk.sandbox --port 5035 [--tls]``.

Prints exactly one line, ``READY <port>``, on standard output once listening (so a parent process can
wait for it and learn the port when ``--port 0`` is given), logs to standard error (never the
secrets), and stops cleanly on SIGINT or SIGTERM. Secrets may also come from the environment
(``CTRADER_SANDBOX_CLIENT_SECRET``, ``..._ACCESS_TOKEN``, ``..._REFRESH_TOKEN``), which keeps them out
of the process list.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from ctrader_sdk.sandbox._config import SandboxConfig
from ctrader_sdk.sandbox._server import Sandbox

_ENV = "CTRADER_SANDBOX_"


def _parser() -> argparse.ArgumentParser:
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog="python -m ctrader_sdk.sandbox",
        description="A protocol-faithful cTrader Open API sandbox server.",
    )
    parser.add_argument("--host", default=defaults.host, help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=5035, help="port to listen on; 0 picks one (default: %(default)s)"
    )
    parser.add_argument("--tls", action="store_true", help="serve TLS with a certificate made at start")
    parser.add_argument(
        "--ca-file", type=Path, help="with --tls: write the CA certificate (PEM) here for clients"
    )
    parser.add_argument("--client-id", default=os.environ.get(_ENV + "CLIENT_ID", defaults.client_id))
    parser.add_argument(
        "--client-secret",
        default=os.environ.get(_ENV + "CLIENT_SECRET", defaults.client_secret),
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--access-token",
        default=os.environ.get(_ENV + "ACCESS_TOKEN", defaults.access_token),
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--refresh-token",
        default=os.environ.get(_ENV + "REFRESH_TOKEN", defaults.refresh_token),
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help="price feed seed (default: %(default)s)"
    )
    parser.add_argument("--live", action="store_true", help="play the live host instead of the demo host")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


async def _serve(config: SandboxConfig, ca_file: Path | None) -> None:
    sandbox = Sandbox(config)
    await sandbox.start()
    try:
        if ca_file is not None and sandbox.ca_pem is not None:
            ca_file.write_text(sandbox.ca_pem)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # not on Windows: Ctrl-C still interrupts
                loop.add_signal_handler(signum, stop.set)
        print(f"READY {sandbox.port}", flush=True)
        await stop.wait()
        logging.getLogger("ctrader_sdk.sandbox").info("stopping")
    finally:
        await sandbox.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and serve until SIGINT/SIGTERM; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        config = SandboxConfig(
            client_id=args.client_id,
            client_secret=args.client_secret,
            access_token=args.access_token,
            refresh_token=args.refresh_token,
            seed=args.seed,
            tls=args.tls,
            host=args.host,
            port=args.port,
            live=args.live,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(config, args.ca_file))
    except KeyboardInterrupt:  # pragma: no cover - only where signal handlers are unavailable
        pass
    except (OSError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
