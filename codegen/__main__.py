"""Command line of the code generator.

    python -m codegen fetch    [--release N]                     fetch and verify the pinned .proto files
    python -m codegen generate [--release N] [--out DIR] [--proto-dir DIR]
    python -m codegen check    [--release N]                     fail when ctrader_sdk/_generated is stale

The .proto files come from CTRADER_PROTO_SOURCE (a folder with one sub-folder per release) when set,
else from the upstream repository at the locked tag. --proto-dir skips the lock and uses a folder as is.

Exit codes: 0 success; 1 the committed output is stale (check); 2 the schema or the fetch failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegen import fetch
from codegen.descriptors import SchemaError
from codegen.generate import DEFAULT_OUT, generate, stale_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m codegen", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch", help="fetch and verify the pinned .proto files into proto/<release>/")
    p_gen = sub.add_parser("generate", help="generate ctrader_sdk/_generated/")
    p_check = sub.add_parser("check", help="exit 1 when the committed ctrader_sdk/_generated/ is stale")
    for p in (p_fetch, p_gen, p_check):
        p.add_argument("--release", help="release from proto/lock.toml (default: the lock's current one)")
    for p in (p_gen, p_check):
        p.add_argument("--proto-dir", type=Path, help="use the .proto files in this folder, unlocked")
    p_gen.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(fetch.fetch(args.release))
            return 0
        if args.command == "generate":
            out = generate(args.release, out=args.out, proto_dir=args.proto_dir)
            print(f"generated {out}")
            return 0
        stale = stale_files(args.release, proto_dir=args.proto_dir)
        if stale:
            print(
                f"ctrader_sdk/_generated is stale ({', '.join(stale)} differ from a fresh generation); "
                "run `make generate` and commit the result",
                file=sys.stderr,
            )
            return 1
        print("ctrader_sdk/_generated is up to date")
        return 0
    except (SchemaError, fetch.FetchError) as exc:
        print(f"codegen: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
