"""The ``ctrader`` command line.

Commands:

* ``ctrader demo``: a complete session (:mod:`ctrader_sdk.demo`) against the built-in sandbox, or
  against the vendor's demo server when ``CTRADER_CLIENT_ID``, ``CTRADER_CLIENT_SECRET`` and
  ``CTRADER_ACCESS_TOKEN`` are set.
* ``ctrader login``: log in with the browser (:func:`ctrader_sdk.oauth.login_flow`) and store the token.
* ``ctrader token``: show what is stored (scope, expiry; the token values only with ``--show``), or
  ``--refresh`` it.

Each command is a :class:`_Command` in :data:`_COMMANDS`: a name, a help line, a function adding its
arguments and an ``async`` function running it that returns the exit code. Adding a command means writing
those two functions and one list entry.

Exit codes: 0 success, 1 the operation failed (network, vendor refusal, token file...), 2 usage error
(bad arguments, missing credentials), 130 interrupted. Failures print one line on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ._exceptions import CTraderError
from .oauth import (
    DEFAULT_AUTH_URL,
    DEFAULT_TOKEN_URL,
    TOKEN_FILE_ENV,
    OAuth,
    Scope,
    StoredTokenProvider,
    Token,
    TokenStore,
    _listen_address,
    login_flow,
)

__all__ = ["main"]

PROG = "ctrader"
#: The redirect URI ``ctrader login`` listens on unless told otherwise; register it for the application.
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8080/callback"
CLIENT_ID_ENV = "CTRADER_CLIENT_ID"
CLIENT_SECRET_ENV = "CTRADER_CLIENT_SECRET"


class _UsageError(Exception):
    """The command line cannot be acted on (exit code 2)."""


@dataclass(frozen=True)
class _Command:
    """One subcommand: ``add_arguments`` sets up its parser, ``run`` executes it and returns the exit code."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


# ------------------------------------------------------------------------------------------------ helpers


def _add_credential_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--client-id", metavar="ID", help=f"the application's client id (default: ${CLIENT_ID_ENV})"
    )
    parser.add_argument(
        "--client-secret",
        metavar="SECRET",
        help=f"the application's client secret (default: ${CLIENT_SECRET_ENV}; prefer the environment "
        "variable, as command lines are visible to other users)",
    )
    parser.add_argument(
        "--token-url",
        metavar="BASE",
        default=DEFAULT_TOKEN_URL,
        help="base URL of the token endpoint, /apps/token is appended (default: %(default)s)",
    )


def _add_token_file_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token-file",
        metavar="PATH",
        help=f"the token file (default: ${TOKEN_FILE_ENV}, else {TokenStore.default_path()})",
    )


def _credentials(args: argparse.Namespace) -> tuple[str, str]:
    client_id = args.client_id or os.environ.get(CLIENT_ID_ENV)
    client_secret = args.client_secret or os.environ.get(CLIENT_SECRET_ENV)
    if not client_id:
        raise _UsageError(f"no client id: pass --client-id or set {CLIENT_ID_ENV}")
    if not client_secret:
        raise _UsageError(f"no client secret: set {CLIENT_SECRET_ENV} or pass --client-secret")
    return client_id, client_secret


def _describe_duration(seconds: float) -> str:
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def _describe_expiry(token: Token) -> str:
    when = datetime.fromtimestamp(token.expires_at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    remaining = token.expires_at - time.time()
    if remaining <= 0:
        return f"{when} (expired {_describe_duration(remaining)} ago)"
    return f"{when} (in {_describe_duration(remaining)})"


def _print_token(token: Token, store: TokenStore, *, show: bool) -> None:
    hidden = "<hidden; use --show>"
    print(f"token file:    {store.path}")
    print(f"scope:         {token.scope or 'unknown'}")
    print(f"token type:    {token.token_type}")
    print(f"expires:       {_describe_expiry(token)}")
    print(f"access token:  {token.access_token if show else hidden}")
    print(f"refresh token: {token.refresh_token if show else hidden}")


# -------------------------------------------------------------------------------------------------- login


def _add_login_arguments(parser: argparse.ArgumentParser) -> None:
    _add_credential_arguments(parser)
    parser.add_argument(
        "--redirect-uri",
        metavar="URI",
        default=DEFAULT_REDIRECT_URI,
        help="the redirect URI registered for the application, on 127.0.0.1; a listener is started there "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--scope",
        choices=[scope.value for scope in Scope],
        default=Scope.TRADING.value,
        help="access asked for: trading, or read-only accounts (default: %(default)s)",
    )
    parser.add_argument(
        "--no-browser",
        action="store_true",
        help="do not open a browser; print the URL to open instead",
    )
    parser.add_argument(
        "--auth-url",
        metavar="BASE",
        default=DEFAULT_AUTH_URL,
        help="the vendor's grant page (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for the browser to come back (default: %(default)g)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite the token file even if it is corrupt or was not written by ctrader",
    )
    _add_token_file_argument(parser)


def _show_login_url(url: str) -> None:
    print(f"Open this URL in a browser to grant access:\n  {url}", flush=True)


async def _cmd_login(args: argparse.Namespace) -> int:
    """Log in with the browser and store the token; a token file that is not ours is refused up front."""
    client_id, client_secret = _credentials(args)
    try:
        _listen_address(args.redirect_uri)  # the same check login_flow makes, before anything is printed
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    store = TokenStore(args.token_file)
    if not args.force:
        # Fail before the browser dance rather than lose the new token to an unwritable file.
        store.load()
    oauth = OAuth(
        client_id,
        client_secret,
        redirect_uri=args.redirect_uri,
        auth_url=args.auth_url,
        token_url=args.token_url,
    )
    print(f"Waiting for the browser on {args.redirect_uri} (Ctrl+C to abort)", file=sys.stderr, flush=True)
    async with oauth:
        token = await login_flow(
            oauth,
            scope=args.scope,
            open_browser=not args.no_browser,
            timeout=args.timeout,
            show_url=_show_login_url,
        )
    store.save(token, force=args.force)
    print(f"Logged in (scope {token.scope}); token saved to {store.path}, expires {_describe_expiry(token)}")
    return 0


# -------------------------------------------------------------------------------------------------- token


def _add_token_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--show", action="store_true", help="also print the access and refresh tokens")
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="refresh the token now and store the new pair (needs the client id and secret)",
    )
    _add_credential_arguments(parser)
    _add_token_file_argument(parser)


async def _cmd_token(args: argparse.Namespace) -> int:
    """Print the stored token's scope and expiry, after refreshing it if asked."""
    store = TokenStore(args.token_file)
    if args.refresh:
        client_id, client_secret = _credentials(args)
        async with OAuth(client_id, client_secret, token_url=args.token_url) as oauth:
            token = await StoredTokenProvider(oauth, store).refresh()
        print("Token refreshed.")
    else:
        loaded = store.load()
        if loaded is None:
            print(f"{PROG} token: no token stored in {store.path}; run `{PROG} login`", file=sys.stderr)
            return 1
        token = loaded
    _print_token(token, store, show=args.show)
    return 0


def _add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to stream quotes (default: 5)")
    parser.add_argument("--symbols", type=int, default=3, help="how many symbols to stream (default: 3)")
    parser.add_argument(
        "--trade",
        action="store_true",
        help="with credentials, also place and close a minimum-size market order on the vendor's demo server "
        "(the built-in sandbox always trades)",
    )
    parser.add_argument(
        "--sandbox", action="store_true", help="use the built-in sandbox even when credentials are set"
    )


async def _cmd_demo(args: argparse.Namespace) -> int:
    """A complete session: against the built-in sandbox, or the vendor's demo server with credentials."""
    from .demo import DemoOptions, run_demo

    if args.seconds < 0 or args.symbols < 1:
        raise _UsageError("--seconds must be >= 0 and --symbols >= 1")
    options = DemoOptions(
        seconds=args.seconds, trade=args.trade, symbols=args.symbols, use_sandbox=args.sandbox
    )
    return await run_demo(options)


# ------------------------------------------------------------------------------------------------- parser

#: Every subcommand, in the order ``--help`` lists them. Register new ones here (e.g. ``demo``).
_COMMANDS: list[_Command] = [
    _Command(
        "demo", "run a complete demo session (sandbox, or your account)", _add_demo_arguments, _cmd_demo
    ),
    _Command("login", "log in with the browser and store the token", _add_login_arguments, _cmd_login),
    _Command("token", "show (or refresh) the stored token", _add_token_arguments, _cmd_token),
]


def _build_parser(commands: Sequence[_Command] = _COMMANDS) -> argparse.ArgumentParser:
    """The argument parser: one subparser per command, the command stored as ``args.command``."""
    parser = argparse.ArgumentParser(prog=PROG, description="Tools for the cTrader Open API SDK.")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in commands:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(command=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``ctrader`` command line.

    Args:
        argv: the arguments, without the program name; ``sys.argv[1:]`` by default.

    Returns:
        The exit code: 0 success, 1 failure, 2 usage error, 130 interrupted.
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    command: _Command | None = getattr(args, "command", None)
    if command is None:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: a command is required", file=sys.stderr)
        return 2
    try:
        return asyncio.run(command.run(args))
    except _UsageError as exc:
        print(f"{PROG} {command.name}: error: {exc}", file=sys.stderr)
        return 2
    except (CTraderError, OSError) as exc:
        print(f"{PROG} {command.name}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG} {command.name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
