"""Fixtures for the OAuth tests: a fake cTrader token endpoint on 127.0.0.1 and port helpers."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

CLIENT_ID = "1234_client-ID"
# Secrets carry characters that URL encoding changes, so redaction is tested on every encoded form.
CLIENT_SECRET = "client-SECRET-s3cr3t/+&=x"
CODE = "auth-CODE-c0de/+ &=y"
EXPIRES_IN = 2_628_000


def secret_forms(*values: str) -> list[str]:
    """Every way a secret may show up in text: raw, URL-encoded, and its leading run of characters that no
    encoding changes (so a form encoded in some other way is caught too)."""
    forms: set[str] = set()
    for value in values:
        forms |= {value, quote(value), quote(value, safe=""), quote_plus(value)}
        stem = re.match(r"[A-Za-z0-9_.~-]*", value)
        if stem and len(stem.group()) >= 8:
            forms.add(stem.group())
    return sorted(forms)


def assert_no_secret(text: str, *values: str) -> None:
    for form in secret_forms(*values):
        assert form not in text, f"secret {form!r} leaked into {text!r}"


@dataclass
class FakeTokenEndpoint:
    """Behaves like ``GET https://openapi.ctrader.com/apps/token``; ``mode`` picks the answer."""

    url: str = ""
    mode: str = "ok"
    queries: list[dict[str, str]] = field(default_factory=list)
    raw_queries: list[str] = field(default_factory=list)
    issued: list[tuple[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.queries.append(dict(request.query))
        self.raw_queries.append(request.query_string)
        mode = self.mode
        if mode == "slow":
            await self.release.wait()
        if mode in ("ok", "slow"):
            n = len(self.issued) + 1
            pair = (f"AT-{n}-access-TOKEN-value", f"RT-{n}-refresh-TOKEN-value")
            self.issued.append(pair)
            return web.json_response(
                {
                    "accessToken": pair[0],
                    "tokenType": "bearer",
                    "expiresIn": EXPIRES_IN,
                    "refreshToken": pair[1],
                    "errorCode": None,
                    "description": None,
                }
            )
        if mode == "vendor_error":  # the vendor answers its errors with HTTP 200
            return web.json_response({"errorCode": "ACCESS_DENIED", "description": "Access denied"})
        if mode == "vendor_error_echo":  # a description quoting the request, secrets included
            desc = f"bad request {request.query_string} secret={request.query.get('client_secret')}"
            return web.json_response({"errorCode": "INVALID_REQUEST", "description": desc})
        if mode == "html":
            return web.Response(text="<html><body>Maintenance</body></html>", content_type="text/html")
        if mode == "500":
            return web.Response(status=500, text="<html>oops</html>", content_type="text/html")
        if mode == "400_json":
            return web.json_response(
                {"errorCode": "INVALID_GRANT", "description": "unknown grant_type"}, status=400
            )
        if mode == "no_access_token":
            return web.json_response(
                {"tokenType": "bearer", "expiresIn": EXPIRES_IN, "refreshToken": "RT-x", "errorCode": None}
            )
        if mode == "json_list":
            return web.json_response(["accessToken"])
        if mode == "bad_expires":
            return web.json_response({"accessToken": "AT-x", "refreshToken": "RT-x", "expiresIn": "soon"})
        if mode == "redirect":
            raise web.HTTPFound("/elsewhere")
        raise AssertionError(f"unknown mode {mode}")

    async def elsewhere(self, request: web.Request) -> web.StreamResponse:
        raise AssertionError("a redirect of the token request was followed")


@pytest.fixture
async def token_endpoint() -> AsyncIterator[FakeTokenEndpoint]:
    endpoint = FakeTokenEndpoint()
    app = web.Application()
    app.router.add_get("/apps/token", endpoint.handle)
    app.router.add_get("/elsewhere", endpoint.elsewhere)
    # No access log: it is the fake vendor's log, and it would show the secrets the tests look for.
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log=None)
    endpoint.url = str(server.make_url("")).rstrip("/")
    try:
        yield endpoint
    finally:
        endpoint.release.set()  # let a "slow" handler finish so the server closes at once
        await server.close()


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the listener under test binds it next)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """Whether nothing listens on ``port`` any more (TIME_WAIT leftovers do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
        return True


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused, and nobody else can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
