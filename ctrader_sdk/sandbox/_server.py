"""The sandbox server: listener, connection registry, tokens, publication of account events.

:class:`Sandbox` ties the parts together: it listens on 127.0.0.1 (plain or TLS), runs a
:class:`~ctrader_sdk.sandbox._connection.Connection` per client, dispatches requests through
:class:`~ctrader_sdk.sandbox._handlers.Dispatcher`, runs the market clock
(:class:`~ctrader_sdk.sandbox._streams.Streams`) and owns the shared state: the catalogue and price
feed, the broker's accounts and the issued tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Sequence
from types import TracebackType

from ctrader_sdk._wire import Message
from ctrader_sdk.messages import ProtoOAAccountsTokenInvalidatedEvent, ProtoOAErrorCode
from ctrader_sdk.sandbox._config import SandboxConfig
from ctrader_sdk.sandbox._connection import Connection
from ctrader_sdk.sandbox._faults import Faults, SandboxStats
from ctrader_sdk.sandbox._handlers import Dispatcher
from ctrader_sdk.sandbox._market import Catalogue, PriceFeed, Quote
from ctrader_sdk.sandbox._streams import Streams
from ctrader_sdk.sandbox._tls import TLSMaterial, make_tls
from ctrader_sdk.sandbox._tokens import Token, TokenRegistry, TokenState
from ctrader_sdk.sandbox._trading import Account, Broker

__all__ = ["Sandbox"]

logger = logging.getLogger("ctrader_sdk.sandbox")

#: Seconds :meth:`Sandbox.stop` waits for connections to close gracefully before resetting them.
_STOP_GRACE = 2.0


class Sandbox:
    """A protocol-faithful cTrader Open API server for tests, demos and benchmarks.

    It speaks the vendor's framing (4-byte big-endian length + ``ProtoMessage``) on 127.0.0.1,
    plainly or over TLS, answers every request of the current release with the vendor's messages
    and error codes, streams a deterministic seeded price feed and simulates a broker.

    Use it as an async context manager, or call :meth:`start` and :meth:`stop`::

        async with Sandbox(SandboxConfig(seed=7)) as sb:
            reader, writer = await asyncio.open_connection(sb.host, sb.port)

    Args:
        config: what to serve; defaults to :class:`SandboxConfig` ().

    Attributes:
        config: the configuration.
        faults: fault injection (:class:`~ctrader_sdk.sandbox.Faults`).
        stats: counters (:class:`~ctrader_sdk.sandbox.SandboxStats`).
        catalogue: the symbols and assets served.
        feed: the seeded price feed.
        broker: the accounts, orders, positions and deals.
        tokens: the issued access and refresh tokens.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config if config is not None else SandboxConfig()
        now = self.now_ms()
        self.stats = SandboxStats()
        self.faults = Faults(self.connections)
        self.catalogue = Catalogue()
        self.feed = PriceFeed(self.catalogue, self.config.seed, self.config.tick_interval_ms)
        self.broker = Broker(self.feed, self.config.accounts, now)
        self.tokens = TokenRegistry(
            self.config.access_token,
            self.config.refresh_token,
            frozenset(a.ctid_trader_account_id for a in self.config.accounts),
            round(self.config.access_token_lifetime * 1000),
            now,
        )
        self.dispatcher = Dispatcher(self)
        self.streams = Streams(self)
        self._connections: set[Connection] = set()
        self._connection_tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._clock: asyncio.Task[None] | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._tls: TLSMaterial | None = None
        self._address: tuple[str, int] | None = None
        self._stopped = False

    def __repr__(self) -> str:
        where = f"{self._address[0]}:{self._address[1]}" if self._address else "not started"
        return f"<Sandbox {where} tls={self.config.tls} seed={self.config.seed}>"

    # -----------------------------------------------------------------------------------------
    # Lifecycle

    async def start(self) -> None:
        """Create the TLS material if asked for, listen, and start the market clock.

        Raises:
            RuntimeError: the sandbox was already started.
            ImportError: TLS was asked for and the ``cryptography`` package is missing.
            OSError: the address cannot be bound.
        """
        if self._server is not None or self._stopped:
            raise RuntimeError("a Sandbox can be started once")
        config = self.config
        if config.tls:
            self._tls = make_tls(config.host)
        self._server = await asyncio.start_server(
            self._on_client,
            config.host,
            config.port,
            ssl=self._tls.server_context if self._tls else None,
        )
        sockname = self._server.sockets[0].getsockname()
        self._address = (config.host, int(sockname[1]))
        self._clock = asyncio.get_running_loop().create_task(self.streams.run())
        self.token_issued(self.tokens.current)
        logger.info(
            "sandbox listening on %s:%d (%s, seed %d)",
            config.host,
            self._address[1],
            "TLS" if self._tls else "plain",
            config.seed,
        )

    async def stop(self) -> None:
        """Stop listening, close every connection (reset those that do not close in time) and stop
        the clock. Safe to call more than once."""
        self._stopped = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
            self._clock = None
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for conn in list(self._connections):
            conn.close()
        tasks = set(self._connection_tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=_STOP_GRACE)
            for conn in list(self._connections):
                conn.abort()
            if pending:
                await asyncio.wait(pending)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connection_tasks.add(task)
        conn = Connection(self, reader, writer)
        self._connections.add(conn)
        self.stats.connections += 1
        self.stats.connections_total += 1
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)
            self.stats.connections -= 1
            self._connection_tasks.discard(task)

    async def connect_pipe(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the sandbox over a local socket pair: no port, no TLS.

        Returns:
            The client's reader and writer; the sandbox serves the other end like any connection.
        """
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=ours)
        task = asyncio.get_running_loop().create_task(self._on_client(reader, writer))
        self._connection_tasks.add(task)
        return await asyncio.open_connection(sock=theirs)

    # -----------------------------------------------------------------------------------------
    # Where and how to connect

    @property
    def host(self) -> str:
        """The address the sandbox listens on."""
        return self._require_address()[0]

    @property
    def port(self) -> int:
        """The port the sandbox listens on (the one picked when configured with port 0)."""
        return self._require_address()[1]

    def _require_address(self) -> tuple[str, int]:
        if self._address is None:
            raise RuntimeError("the sandbox is not started")
        return self._address

    def ssl_context(self) -> ssl.SSLContext:
        """A new client-side context that trusts the sandbox's certificate, with verification and
        hostname checks on (valid for ``localhost``, ``127.0.0.1`` and ``::1``).

        Raises:
            RuntimeError: the sandbox does not serve TLS, or is not started.
        """
        if self._tls is None:
            raise RuntimeError("the sandbox does not serve TLS (SandboxConfig.tls=False) or is not started")
        return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=self._tls.ca_pem)

    @property
    def ca_pem(self) -> str | None:
        """The sandbox CA certificate in PEM (for clients in other processes), or ``None`` without TLS."""
        return None if self._tls is None else self._tls.ca_pem

    @property
    def access_token(self) -> str:
        """The access token currently valid (changes when a client refreshes it)."""
        return self.tokens.current.access_token

    @property
    def refresh_token(self) -> str:
        """The refresh token currently unspent."""
        return self.tokens.current.refresh_token

    # -----------------------------------------------------------------------------------------
    # Market data for tests and benchmarks

    def quote(self, symbol_id: int, timestamp_ms: int | None = None) -> Quote:
        """The feed's bid and ask (wire units) at ``timestamp_ms`` (default: now).

        Raises:
            KeyError: the symbol is not in the catalogue.
        """
        return self.feed.quote(symbol_id, self.now_ms() if timestamp_ms is None else timestamp_ms)

    async def push_spots(self, account_id: int, symbol_id: int, count: int) -> int:
        """Send ``count`` spot events of ``symbol_id`` as fast as possible to every connection where
        ``account_id`` is authorised and subscribed to that symbol (a burst for benchmarks).

        The events carry the feed's quotes of the ``count`` tick slots up to now, oldest first, each
        with both bid and ask.

        Returns:
            How many events were queued (``count`` per subscribed connection).
        """
        if count < 0:
            raise ValueError("count must not be negative")
        return await self.streams.push_spots(account_id, symbol_id, count)

    # -----------------------------------------------------------------------------------------
    # Used by the handlers and the clock

    @staticmethod
    def now_ms() -> int:
        """Wall-clock time in milliseconds (the vendor's timestamps)."""
        return time.time_ns() // 1_000_000

    @staticmethod
    def loop_time() -> float:
        """Monotonic time of the running loop, in seconds (rate limits)."""
        return asyncio.get_running_loop().time()

    def connections(self) -> list[Connection]:
        """The open connections."""
        return [c for c in self._connections if not c.closing]

    def publish(self, account: Account, event: Message) -> None:
        """Send an event to every connection where ``account`` is authorised."""
        for conn in self.connections():
            if conn.active_sessions(account.account_id) is not None:
                conn.send(event)

    def publish_execution(
        self, account: Account, events: Sequence[Message], origin: Connection, client_msg_id: str | None
    ) -> None:
        """Answer a trading request on ``origin`` and send the same events to every other connection
        where the account is authorised (without the client message id, which is ``origin``'s)."""
        origin.answer(events, client_msg_id)
        for conn in self.connections():
            if conn is not origin and conn.active_sessions(account.account_id) is not None:
                for event in events:
                    conn.send(event)

    def token_issued(self, token: Token) -> None:
        """Arm the expiry of a newly issued access token."""
        if self._server is None:
            return
        delay = max(0.001, (token.expires_at - self.now_ms()) / 1000)
        self._timers.append(asyncio.get_running_loop().call_later(delay, self.expire_token, token))

    def expire_token(self, token: Token) -> None:
        """End the sessions authorised with ``token`` if it has expired (the vendor then sends
        ``ProtoOAAccountsTokenInvalidatedEvent``); requests for those accounts answer
        ``OA_AUTH_TOKEN_EXPIRED`` until they are authorised again.

        The timer runs on the loop's monotonic clock while expiry is wall-clock time: if it fires a
        little early, it is armed again for the rest.
        """
        state = self.tokens.state(token.access_token, self.now_ms())
        if state == TokenState.EXPIRED:
            self.end_token_sessions(token, ProtoOAErrorCode.OA_AUTH_TOKEN_EXPIRED, "Access Token is expired")
        elif state == TokenState.VALID:
            self.token_issued(token)

    def end_token_sessions(self, token: Token, code: ProtoOAErrorCode, reason: str) -> None:
        """End every active session authorised with ``token``; tell each connection which accounts."""
        for conn in self.connections():
            ended = []
            for account_id, session in conn.sessions.items():
                if session.active and session.token is token:
                    session.end(code.name)
                    ended.append(account_id)
            if ended:
                conn.send(ProtoOAAccountsTokenInvalidatedEvent(ctid_trader_account_ids=ended, reason=reason))
