"""Hypothesis profiles shared by the conformance and unit suites (loaded by their conftests).

- ``dev`` (default when nothing is set): normal random search, no deadline (the first example of a
  big message pays for building its strategy), and ``print_blob`` so a failure prints the
  ``@reproduce_failure`` line that replays it.
- ``ci`` (loaded when the ``CI`` environment variable is set, or ``HYPOTHESIS_PROFILE=ci``):
  the same, derandomized and without the example database, so a CI run is deterministic (it
  extends hypothesis' own ``ci`` profile where the installed version has one).

Each test still sets its own ``max_examples`` (sized so the whole suite stays within its time budget).
"""

from __future__ import annotations

import os

from hypothesis import settings
from hypothesis.errors import InvalidArgument

DEV = "dev"
CI = "ci"


def load() -> None:
    """Register both profiles and load the one the environment asks for."""
    settings.register_profile(DEV, deadline=None, print_blob=True)
    try:  # recent hypothesis versions define (and load on CI) a "ci" profile of their own: extend it
        builtin: settings | None = settings.get_profile(CI)
    except InvalidArgument:
        builtin = None
    settings.register_profile(CI, builtin, deadline=None, print_blob=True, derandomize=True, database=None)
    name = os.environ.get("HYPOTHESIS_PROFILE") or (CI if os.environ.get("CI") else None)
    if name in (DEV, CI):
        settings.load_profile(name)
    elif name is None:
        settings.load_profile(DEV)
    # Any other HYPOTHESIS_PROFILE names a profile registered elsewhere (e.g. by another suite's conftest):
    # leave it to whoever registered it.
