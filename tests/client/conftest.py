"""Fixtures for the client tests: a scriptable fake server and clients bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from client_support import FakeServer, fast_config

from ctrader_sdk import Client, Endpoint


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with FakeServer() as fake:
        yield fake


@pytest.fixture
async def make_client(server: FakeServer) -> AsyncIterator[Callable[..., Client]]:
    """Build (not open) clients for ``server``; every client made is closed at the end of the test."""
    made: list[Client] = []

    def make(**config: object) -> Client:
        client = Client(Endpoint(server.host, server.port), ssl=False, config=fast_config(**config))
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def client(make_client: Callable[..., Client]) -> Client:
    """An open client connected to the fake server."""
    c = make_client()
    await c.open()
    return c
