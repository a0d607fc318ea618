"""The generator against tiny fixture protos, one edge case each, with committed expected output.

After an intended template change, refresh the goldens with `make goldens` and review their diff.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _fixtures import GOLDENS, ROOT, cases, render_case  # type: ignore[import-not-found]

from ctrader_sdk import DecodeError, EncodeError


@pytest.mark.parametrize("case", cases())
def test_output_matches_golden(case: str) -> None:
    rendered = render_case(case)
    golden_dir = GOLDENS / case
    goldens = {
        p.name.removesuffix(".golden"): p.read_text(encoding="utf-8") for p in golden_dir.glob("*.golden")
    }
    assert sorted(rendered) == sorted(goldens), "the set of generated files changed: run `make goldens`"
    for name, text in rendered.items():
        assert text == goldens[name], f"{case}/{name} differs from its golden: run `make goldens` and review"


def test_every_case_has_goldens() -> None:
    assert sorted(p.name for p in GOLDENS.iterdir()) == cases()


def test_fixture_output_is_mypy_strict_clean(fixture_packages: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--config-file", str(ROOT / "pyproject.toml"),
         *[str(p) for p in sorted(fixture_packages.glob("fx_*"))]],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _upb_fields(msg: Any) -> dict[str, Any]:
    return {f.name: v for f, v in msg.ListFields()}


def test_required_zero_values_are_encoded(load_fixture: Any, fixture_upb: Any) -> None:
    mod = load_fixture("required_zero", "required_zero")
    msg = mod.FixtureRequiredZeroEvent(count=0, label="", flag=False, price=0.0, maybe=0)
    data = msg.to_bytes()
    upb = fixture_upb("required_zero").FixtureRequiredZeroEvent.FromString(data)
    assert upb.IsInitialized()
    assert {"count", "label", "flag", "price", "maybe"} <= set(_upb_fields(upb))
    assert data == upb.SerializeToString()
    assert mod.FixtureRequiredZeroEvent.from_bytes(data) == msg
    # unset optional: not sent; unset required: refused before anything is sent
    assert mod.FixtureRequiredZeroEvent(count=0, label="", flag=False, price=0.0).to_bytes() != data
    broken = mod.FixtureRequiredZeroEvent(count=0, label="", flag=False, price=0.0)
    broken.label = None
    with pytest.raises(EncodeError, match=r"FixtureRequiredZeroEvent\.label is required"):
        broken.to_bytes()
    assert mod.FixtureRequiredZeroEvent.PAYLOAD_TYPE == 3001
    assert "payload_type" not in {f.name for f in dataclasses.fields(mod.FixtureRequiredZeroEvent)}


def test_declared_defaults_are_documented_not_applied(load_fixture: Any, fixture_upb: Any) -> None:
    mod = load_fixture("declared_defaults", "declared_defaults")
    msg = mod.FixtureDefaults()
    assert (msg.mode, msg.currency, msg.enabled, msg.retries) == (None, None, None, None)
    assert msg.to_bytes() == b""
    assert "MODE_ON" in (GOLDENS / "declared_defaults" / "declared_defaults.py.golden").read_text()
    upb = fixture_upb("declared_defaults").FixtureDefaults.FromString(
        mod.FixtureDefaults(retries=-3).to_bytes()
    )
    assert upb.retries == -3 and not upb.HasField("mode")


def test_enum_not_starting_at_zero(load_fixture: Any, fixture_upb: Any) -> None:
    mod = load_fixture("enum_not_zero", "enum_not_zero")
    assert [m.value for m in mod.FixtureWeekday] == [1, 5, 7]
    msg = mod.FixtureSchedule(
        day=mod.FixtureWeekday.WEEKDAY_FRIDAY, off=[mod.FixtureWeekday.WEEKDAY_SUNDAY, mod.FixtureWeekday(3)]
    )
    decoded = mod.FixtureSchedule.from_bytes(msg.to_bytes())
    assert decoded.day is mod.FixtureWeekday.WEEKDAY_FRIDAY
    assert decoded.off[1].name == "UNKNOWN_3" and not decoded.off[1].is_known
    upb = fixture_upb("enum_not_zero").FixtureSchedule(day=5)
    assert mod.FixtureSchedule.from_bytes(upb.SerializeToString()).day is mod.FixtureWeekday.WEEKDAY_FRIDAY
    with pytest.raises(DecodeError, match=r"FixtureSchedule: required field day is missing"):
        mod.FixtureSchedule.from_bytes(b"")


def test_keyword_named_fields(load_fixture: Any, fixture_upb: Any) -> None:
    mod = load_fixture("keyword_names", "keyword_names")
    msg = mod.FixtureKeywords(from_=1, type_="t", id=2, list_=[3, 4], class_=True, to_bytes_="x")
    data = msg.to_bytes()
    upb = fixture_upb("keyword_names").FixtureKeywords.FromString(data)
    assert getattr(upb, "from") == 1 and upb.type == "t" and upb.id == 2 and list(upb.list) == [3, 4]
    assert mod.FixtureKeywords.from_bytes(data) == msg
    assert msg.to_dict() == {"from": 1, "type": "t", "id": 2, "list": [3, 4], "class": True, "toBytes": "x"}
    assert mod.FixtureKeywords.from_dict(msg.to_dict()) == msg
    meta = {f.name: dict(f.metadata) for f in dataclasses.fields(mod.FixtureKeywords)}
    assert meta["from_"] == {"proto_name": "from", "number": 1}


def test_nested_and_repeated(load_fixture: Any, fixture_upb: Any) -> None:
    mod = load_fixture("nested_repeated", "nested_repeated")
    upb_mod = fixture_upb("nested_repeated")
    point = mod.FixturePoint(x=-5, y=-7, z=2**64 - 1, w=1.5)
    msg = mod.FixturePath(
        points=[point, mod.FixturePoint(x=0, y=0)], packed_ids=[1, 2**63], ids=[-1, 0, 7],
        origin=point, names=["a", "ü"], blob=b"\x00\xff",
    )  # fmt: skip
    data = msg.to_bytes()
    assert data == upb_mod.FixturePath.FromString(data).SerializeToString()
    assert mod.FixturePath.from_bytes(data) == msg
    # unpacked input for a packed field and packed input for an unpacked one are both accepted
    ref = upb_mod.FixturePath(packedIds=[5, 6], ids=[8, 9]).SerializeToString()
    assert mod.FixturePath.from_bytes(ref).packed_ids == [5, 6]
    flipped = b"\x10\x05\x10\x06" + b"\x1a\x02\x08\x09"
    decoded = mod.FixturePath.from_bytes(flipped)
    assert (decoded.packed_ids, decoded.ids) == ([5, 6], [8, 9])


def test_irregular_names_and_response_mapping(load_fixture: Any) -> None:
    requests = load_fixture("irregular_names", "requests")
    registry = load_fixture("irregular_names", "registry")
    msgs = load_fixture("irregular_names", "irregular_names")
    assert list(requests.REQUEST_METHODS) == [
        "v1_pnl_change_subscribe",
        "amend_position_sltp",
        "close_position",
        "get_dynamic_leverage_by_id",
    ]
    assert registry.RESPONSE_OF[msgs.ProtoOAClosePositionReq] is msgs.ProtoOAExecutionEvent
    assert msgs.ProtoOAClosePositionReq.TRADING and not msgs.ProtoOAv1PnLChangeSubscribeReq.TRADING
    assert (
        frozenset({msgs.ProtoOAAmendPositionSLTPReq, msgs.ProtoOAClosePositionReq})
        == registry.TRADING_REQUESTS
    )
    assert msgs.ProtoOAGetDynamicLeverageByIDReq.RESPONSE_TYPE is msgs.ProtoOAGetDynamicLeverageByIDRes
