"""A protocol-faithful cTrader Open API server, for tests, demos and benchmarks.

    from ctrader_sdk.sandbox import Sandbox, SandboxConfig

    async with Sandbox(SandboxConfig(seed=42, tls=True)) as sb:
        ...  # connect to sb.host:sb.port with sb.ssl_context()

It speaks the vendor's framing and messages (plain or TLS on 127.0.0.1), answers every request of
the current release with the vendor's answers and error codes, streams a deterministic seeded price
feed (spots, depth, live trendbars, PnL), serves history (trendbars and ticks computed from the same
feed), simulates a hedged broker (orders, positions, deals, protection), expires and refreshes
tokens, enforces the vendor's rate limits, and injects faults (``Sandbox.faults``).

Also runnable on its own: ``python -m ctrader_sdk.sandbox --port 5035 [--tls]``.
"""

from __future__ import annotations

from ctrader_sdk.sandbox._config import AccountConfig, SandboxConfig
from ctrader_sdk.sandbox._faults import Faults, SandboxStats
from ctrader_sdk.sandbox._market import Quote
from ctrader_sdk.sandbox._server import Sandbox

__all__ = ["AccountConfig", "Faults", "Quote", "Sandbox", "SandboxConfig", "SandboxStats"]
