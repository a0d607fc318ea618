"""The main job: `ctrader demo` runs a complete session against the in-process sandbox."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from ctrader_sdk.cli import main
from ctrader_sdk.demo import ACCESS_TOKEN_ENV, CLIENT_ID_ENV, CLIENT_SECRET_ENV, DemoOptions, run_demo


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (CLIENT_ID_ENV, CLIENT_SECRET_ENV, ACCESS_TOKEN_ENV):
        monkeypatch.delenv(name, raising=False)


async def test_demo_session_against_the_sandbox() -> None:
    out = io.StringIO()
    assert await run_demo(DemoOptions(seconds=1.0), out) == 0
    text = out.getvalue()
    for expected in (
        "using the built-in sandbox",
        "Application authenticated.",
        "3 account(s) behind the token:",
        "Account 100001 authorised: balance 10,000.00.",
        "H1 bars of EURUSD",
        "Streaming quotes of EURUSD",
        "Placing a market BUY",
        "ORDER_FILLED",
        "Position closed; open positions now: 0.",
    ):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    received = int(text.split(" spot events received.")[0].rsplit("\n", 1)[-1])
    assert received > 0
    assert "sandbox-secret" not in text and "sandbox-token" not in text


def test_cli_demo_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--seconds", "0.5", "--symbols", "2"]) == 0
    assert "Position closed" in capsys.readouterr().out


def test_cli_demo_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--symbols", "0"]) == 2
    assert "--symbols" in capsys.readouterr().err


def test_quickstart_example_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "examples/quickstart.py"], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "order ORDER_ACCEPTED" in proc.stdout
