"""Helpers for testing code that uses :class:`~ctrader_sdk.Client`, against the built-in sandbox.

::

    from ctrader_sdk.sandbox import Sandbox
    from ctrader_sdk.testing import connect_sandbox

    async with Sandbox() as sandbox, connect_sandbox(sandbox) as client:
        await client.application_auth(client_id="sandbox-client", client_secret="sandbox-secret")

The client is the real one, end to end: only where the bytes travel changes. By default it connects
over a local socket pair (no port, no certificate, as grpclib's ``ChannelFor``); with ``via="tcp"`` it
goes through the sandbox's listening socket, with TLS verified against the sandbox's certificate when
the sandbox serves TLS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ctrader_sdk._client import Client, _Connect
from ctrader_sdk._config import ClientConfig, Endpoint
from ctrader_sdk._transport import AsyncioStream, Stream

if TYPE_CHECKING:
    from ctrader_sdk.sandbox import Sandbox

__all__ = ["connect_sandbox", "sandbox_client"]


def sandbox_client(
    sandbox: Sandbox, *, config: ClientConfig | None = None, via: Literal["pipe", "tcp"] = "pipe"
) -> Client:
    """A client (not yet open) for a started ``sandbox``.

    Args:
        sandbox: a started sandbox.
        config: the client's configuration.
        via: ``"pipe"``: a new local socket pair per connection (reconnections included); ``"tcp"``:
            the sandbox's host and port, with TLS verified by :meth:`Sandbox.ssl_context` when the
            sandbox serves TLS.
    """
    endpoint = Endpoint(sandbox.host, sandbox.port)
    if via == "tcp":
        return Client(endpoint, ssl=sandbox.ssl_context() if sandbox.config.tls else False, config=config)
    if via != "pipe":
        raise ValueError(f'via must be "pipe" or "tcp", not {via!r}')

    async def open_pipe() -> Stream:
        reader, writer = await sandbox.connect_pipe()
        return AsyncioStream(reader, writer)

    return Client(endpoint, config=config, stream_factory=open_pipe)


def connect_sandbox(
    sandbox: Sandbox, *, config: ClientConfig | None = None, via: Literal["pipe", "tcp"] = "pipe"
) -> _Connect[Client]:
    """Open a client on ``sandbox``: ``await connect_sandbox(sb)`` or ``async with connect_sandbox(sb)``.

    Arguments as for :func:`sandbox_client`.
    """
    return _Connect(sandbox_client(sandbox, config=config, via=via))
