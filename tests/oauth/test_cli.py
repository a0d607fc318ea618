"""The ``ctrader login`` and ``ctrader token`` commands, end to end against the fake token endpoint."""

from __future__ import annotations

import asyncio
import io
import json
import queue
import stat
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from ctrader_sdk.cli import main
from ctrader_sdk.oauth import Token, TokenStore

from .conftest import CLIENT_ID, CLIENT_SECRET, CODE, FakeTokenEndpoint, assert_no_secret, free_port

ACCESS = "AT-cli-access-secret"
REFRESH = "RT-cli-refresh-secret"


class LineWriter(io.TextIOBase):
    """A stdout/stderr replacement that hands each complete line to another thread through a queue."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.chunks: list[str] = []
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.chunks.append(text)
        self._partial += text
        *complete, self._partial = self._partial.split("\n")
        for line in complete:
            self.lines.put(line)
        return len(text)

    @property
    def text(self) -> str:
        return "".join(self.chunks)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTRADER_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("CTRADER_CLIENT_SECRET", CLIENT_SECRET)


def store_token(path: Path, expires_in: float = 30 * 86_400, scope: str | None = "trading") -> Token:
    token = Token(ACCESS, REFRESH, time.time() + expires_in, scope=scope)
    TokenStore(path).save(token)
    return token


# -------------------------------------------------------------------------------------------------- login


@pytest.mark.usefixtures("credentials")
async def test_login_end_to_end(
    token_endpoint: FakeTokenEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, err = LineWriter(), LineWriter()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    token_file = tmp_path / "config" / "token.json"
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    argv = ["login", "--no-browser", "--redirect-uri", redirect, "--token-url", token_endpoint.url]
    argv += ["--token-file", str(token_file), "--scope", "accounts", "--timeout", "10"]
    command = asyncio.ensure_future(asyncio.to_thread(main, argv))

    # Play the user: read the printed URL, "consent", and come back to the redirect URI.
    grant_url = None
    deadline = time.monotonic() + 10
    while grant_url is None:
        assert not command.done(), f"ctrader login ended early ({command.result()}): {err.text}"
        assert time.monotonic() < deadline, "no URL printed"
        try:
            line = await asyncio.to_thread(out.lines.get, timeout=0.1)
        except queue.Empty:
            continue
        if line.strip().startswith("https://"):
            grant_url = line.strip()
    query = parse_qs(urlsplit(grant_url).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [redirect]
    assert query["scope"] == ["accounts"]
    params = {"code": CODE, "state": query["state"][0]}
    async with aiohttp.ClientSession() as browser, browser.get(redirect, params=params) as response:
        assert response.status == 200

    assert await command == 0, err.text
    issued_access, issued_refresh = token_endpoint.issued[0]
    assert token_endpoint.queries[0]["code"] == CODE
    stored = TokenStore(token_file).load()
    assert stored is not None
    assert (stored.access_token, stored.refresh_token, stored.scope) == (
        issued_access,
        issued_refresh,
        "accounts",
    )
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert "Logged in (scope accounts)" in out.text
    assert str(token_file) in out.text
    assert_no_secret(out.text + err.text, CLIENT_SECRET, CODE, issued_access, issued_refresh)


def test_login_without_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("CTRADER_CLIENT_ID", raising=False)
    monkeypatch.delenv("CTRADER_CLIENT_SECRET", raising=False)
    assert main(["login", "--token-file", str(tmp_path / "t.json")]) == 2
    assert (
        capsys.readouterr().err
        == "ctrader login: error: no client id: pass --client-id or set CTRADER_CLIENT_ID\n"
    )
    assert main(["login", "--client-id", "x", "--token-file", str(tmp_path / "t.json")]) == 2
    assert "CTRADER_CLIENT_SECRET" in capsys.readouterr().err


@pytest.mark.usefixtures("credentials")
def test_login_refuses_a_non_loopback_redirect(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = [
        "login",
        "--no-browser",
        "--redirect-uri",
        "https://example.com/cb",
        "--token-file",
        str(tmp_path / "t"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ctrader login: error: login_flow needs a redirect URI on http://127.0.0.1")
    assert "Traceback" not in err


@pytest.mark.usefixtures("credentials")
def test_login_keeps_a_foreign_token_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    token_file = tmp_path / "token.json"
    token_file.write_text('{"my": "precious"}')
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    assert main(["login", "--no-browser", "--redirect-uri", redirect, "--token-file", str(token_file)]) == 1
    err = capsys.readouterr().err
    assert "not a ctrader_sdk token file" in err
    assert err.count("\n") == 1
    assert token_file.read_text() == '{"my": "precious"}'


# -------------------------------------------------------------------------------------------------- token


def test_token_hides_the_values_unless_show(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    token_file = tmp_path / "token.json"
    store_token(token_file, scope="accounts")
    assert main(["token", "--token-file", str(token_file)]) == 0
    out = capsys.readouterr().out
    assert "scope:         accounts" in out
    assert "expires:" in out and "(in 29 d 23 h)" in out
    assert str(token_file) in out
    assert "<hidden; use --show>" in out
    assert_no_secret(out, ACCESS, REFRESH)

    assert main(["token", "--show", "--token-file", str(token_file)]) == 0
    out = capsys.readouterr().out
    assert f"access token:  {ACCESS}" in out
    assert f"refresh token: {REFRESH}" in out


def test_token_expired_and_unknown_scope(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    token_file = tmp_path / "token.json"
    store_token(token_file, expires_in=-7200, scope=None)
    assert main(["token", "--token-file", str(token_file)]) == 0
    out = capsys.readouterr().out
    assert "(expired 2 h 0 min ago)" in out
    assert "scope:         unknown" in out


def test_token_file_from_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "env.json"
    store_token(token_file)
    monkeypatch.setenv("CTRADER_TOKEN_FILE", str(token_file))
    assert main(["token"]) == 0
    assert str(token_file) in capsys.readouterr().out


def test_token_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["token", "--token-file", str(tmp_path / "none.json")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no token stored" in err and "ctrader login" in err


def test_token_corrupt_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    token_file = tmp_path / "token.json"
    token_file.write_text("{oops")
    assert main(["token", "--token-file", str(token_file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ctrader token: error: token file") and "not valid JSON" in err
    assert err.count("\n") == 1


@pytest.mark.usefixtures("credentials")
async def test_token_refresh(
    token_endpoint: FakeTokenEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    token_file = tmp_path / "token.json"
    store_token(token_file, scope="accounts")
    argv = ["token", "--refresh", "--token-url", token_endpoint.url, "--token-file", str(token_file)]
    assert await asyncio.to_thread(main, argv) == 0
    assert token_endpoint.queries[0]["refresh_token"] == REFRESH
    new = TokenStore(token_file).load()
    assert new is not None
    assert (new.access_token, new.refresh_token) == token_endpoint.issued[0]
    assert new.scope == "accounts"
    out = capsys.readouterr().out
    assert "Token refreshed." in out and "scope:         accounts" in out
    assert_no_secret(out, new.access_token, new.refresh_token, REFRESH, CLIENT_SECRET)


@pytest.mark.usefixtures("credentials")
async def test_token_refresh_refused(
    token_endpoint: FakeTokenEndpoint, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    token_endpoint.mode = "vendor_error"
    token_file = tmp_path / "token.json"
    store_token(token_file)
    before = token_file.read_bytes()
    argv = ["token", "--refresh", "--token-url", token_endpoint.url, "--token-file", str(token_file)]
    assert await asyncio.to_thread(main, argv) == 1
    captured = capsys.readouterr()
    assert (
        captured.err
        == "ctrader token: error: token endpoint refused the request: ACCESS_DENIED: Access denied\n"
    )
    assert_no_secret(captured.out + captured.err, REFRESH, CLIENT_SECRET)
    assert token_file.read_bytes() == before


def test_token_refresh_needs_credentials(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CTRADER_CLIENT_ID", raising=False)
    token_file = tmp_path / "token.json"
    store_token(token_file)
    assert main(["token", "--refresh", "--token-file", str(token_file)]) == 2
    assert "no client id" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------- parser


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "login" in out and "token" in out


def test_no_command_or_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "a command is required" in capsys.readouterr().err
    assert main(["login", "--scope", "everything"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["nope"]) == 2


def test_stored_file_is_what_token_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The token file written by one command is the documented format the other reads.
    token_file = tmp_path / "token.json"
    token = store_token(token_file)
    assert json.loads(token_file.read_text())["token"]["access_token"] == token.access_token
    assert main(["token", "--show", "--token-file", str(token_file)]) == 0
    assert token.access_token in capsys.readouterr().out
