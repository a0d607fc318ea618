"""The client's public API under mypy --strict: see typing_client.py, and a few mistakes mypy catches."""

from __future__ import annotations

from pathlib import Path

from mypy import api

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

WRONG = """
from ctrader_sdk import Client, Endpoints
from ctrader_sdk.messages import ProtoOASpotEvent, ProtoOADepthEvent

async def wrong(client: Client) -> None:
    await client.version(timeout="soon")
    async for spot in client.events(ProtoOASpotEvent):
        spot.new_quotes
    client.on(ProtoOADepthEvent, lambda e: e.bid)
    Client("demo.ctraderapi.com")
"""


def _mypy(*args: str) -> tuple[str, int]:
    out, err, status = api.run(
        ["--strict", "--config-file", str(ROOT / "pyproject.toml"), "--no-error-summary", *args]
    )
    return out + err, status


def test_typed_end_to_end() -> None:
    out, status = _mypy(str(HERE / "typing_client.py"))
    assert status == 0, out


def test_mistakes_are_type_errors(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.py"
    wrong.write_text(WRONG)
    out, status = _mypy(str(wrong))
    assert status == 1
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 4, out
    for fragment in (
        '"timeout"',
        '"ProtoOASpotEvent" has no attribute "new_quotes"',
        '"ProtoOADepthEvent" has no attribute "bid"',
        '"Client"',
    ):
        assert fragment in out, (fragment, out)
