"""Unit tests of the codec runtime share the conformance suite's hypothesis profiles and strategies."""

from __future__ import annotations

from conformance import hypothesis_profiles

hypothesis_profiles.load()
