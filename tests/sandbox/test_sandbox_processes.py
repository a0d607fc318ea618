"""The sandbox from other processes: the standalone runner, and a client of an old proto release."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import sys
from pathlib import Path

import pytest

from ctrader_sdk.messages import (
    ProtoOAApplicationAuthReq,
    ProtoOAApplicationAuthRes,
    ProtoOAErrorRes,
    ProtoOAVersionReq,
    ProtoOAVersionRes,
)
from ctrader_sdk.sandbox import Sandbox

from .conftest import ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, DEMO, EURUSD, RawClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def proto_release(release: str) -> Path:
    """The vendor's .proto files of ``release`` (``CTRADER_PROTO_SOURCE`` or ``../shared/proto``)."""
    source = Path(os.environ.get("CTRADER_PROTO_SOURCE", ROOT.parent / "shared" / "proto"))
    if not source.is_absolute():
        source = ROOT / source
    folder = source / release
    assert folder.is_dir(), f"proto release {release} not found in {source}"
    return folder


async def run(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(("tls", "signum"), [(False, signal.SIGTERM), (True, signal.SIGINT)])
async def test_standalone_runner(tmp_path: Path, tls: bool, signum: signal.Signals) -> None:
    ca_file = tmp_path / "ca.pem"
    args = [
        sys.executable,
        "-m",
        "ctrader_sdk.sandbox",
        "--port",
        "0",
        "--seed",
        "9",
        "--client-id",
        "runner-app",
    ]
    if tls:
        args += ["--tls", "--ca-file", str(ca_file)]
    env = {
        **os.environ,
        "CTRADER_SANDBOX_CLIENT_SECRET": "runner-S3CRET",
        "CTRADER_SANDBOX_ACCESS_TOKEN": "runner-T0KEN",
    }
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert line.startswith("READY "), line
        port = int(line.split()[1])
        context = None
        if tls:
            context = ssl.create_default_context(cafile=str(ca_file))
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        client = RawClient(reader, writer)
        try:
            await client.ok(ProtoOAVersionReq(), ProtoOAVersionRes)
            refused = await client.request(
                ProtoOAApplicationAuthReq(client_id="runner-app", client_secret="nope")
            )
            assert isinstance(refused, ProtoOAErrorRes) and refused.error_code == "CH_CLIENT_AUTH_FAILURE"
            await client.ok(
                ProtoOAApplicationAuthReq(client_id="runner-app", client_secret="runner-S3CRET"),
                ProtoOAApplicationAuthRes,
            )
        finally:
            await client.close()
        process.send_signal(signum)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    assert process.returncode == 0, err
    assert out.decode() == ""  # READY was the only line
    text = err.decode()
    assert "listening" in text and "S3CRET" not in text and "T0KEN" not in text


async def test_runner_reports_a_bad_configuration() -> None:
    code, out, err = await run(sys.executable, "-m", "ctrader_sdk.sandbox", "--port", "70000")
    assert code == 2 and out == "" and "port" in err


async def test_a_client_compiled_from_release_81_works_unchanged(sandbox: Sandbox, tmp_path: Path) -> None:
    protos = proto_release("81")
    code, _, err = await run(
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={protos}",
        f"--python_out={tmp_path}",
        *sorted(str(p) for p in protos.glob("*.proto")),
    )
    assert code == 0, err
    code, out, err = await run(
        sys.executable,
        str(HERE / "old_release_client.py"),
        str(tmp_path),
        sandbox.host,
        str(sandbox.port),
        CLIENT_ID,
        CLIENT_SECRET,
        ACCESS_TOKEN,
    )
    assert code == 0, err
    seen = json.loads(out)
    assert seen["app_auth"] is True and DEMO in seen["accounts"]
    assert seen["balance"] == 1_000_000 and seen["digits"] == 5
    assert seen["bars"] >= 1 and seen["bars_timestamp"] == seen["to"]
    spot = seen["spot"]
    assert (spot["bid"], spot["ask"]) == tuple(sandbox.quote(EURUSD, spot["timestamp"]))
