"""Fixtures of the conformance suite: the upb oracle compiled from the release our code was generated from."""

from __future__ import annotations

import pytest

from codegen.fetch import fetch
from ctrader_sdk import RELEASE

from . import hypothesis_profiles
from .oracle import Oracle, build, load

hypothesis_profiles.load()


@pytest.fixture(scope="session")
def upb() -> Oracle:
    """google protobuf (upb) classes for release ``RELEASE``: fetched (honouring CTRADER_PROTO_SOURCE),
    compiled with grpcio-tools into ``.upb/<release>/`` and imported."""
    proto_dir = fetch(RELEASE)
    return load(RELEASE, build(RELEASE, proto_dir))
