"""The client runtime: connection lifecycle, request/answer correlation, rate limits, heartbeats,
reconnection with session restore, and event delivery.

One :class:`Client` owns at most one connection at a time. Each chunk received is decoded and routed
by :meth:`Client._receive`, called straight from the event loop for a TCP stream (or by a reader task
for a stream without push mode): an answer goes to the request waiting for its ``clientMsgId``, an
event to the event streams and callbacks subscribed to its class, with one dict lookup each and no
task per message. A keepalive task per connection sends heartbeats and declares the connection dead
when nothing arrives. A supervisor task waits for the connection to end and, unless the client is
closing, reconnects and restores the session (:meth:`Client._restore_session`).

Sending writes the frame at once (no queue, no task); only a full socket buffer makes a sender wait.

The policies are small named functions: :func:`is_retryable_request` (trading requests are never
re-sent), :func:`is_throttled` and :func:`retry_delay` (``BLOCKED_PAYLOAD_TYPE``), and
:func:`is_transient` (which failures are worth another connection attempt).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import ssl as _ssl
import time
from collections.abc import Callable, Generator, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, cast, overload

from ctrader_sdk._config import MARKET_DATA_EVENTS, THROTTLE_CODES, ClientConfig, Endpoint, RetryPolicy
from ctrader_sdk._envelope import decode_envelope, encode_envelope
from ctrader_sdk._events import (
    Connected,
    Disconnected,
    Dispatcher,
    EventStream,
    Reconnected,
    Subscription,
    TokenRefreshed,
    _Callback,
    make_stream,
    make_subscription,
)
from ctrader_sdk._exceptions import (
    ClientClosedError,
    CTraderConnectionError,
    CTraderError,
    CTraderTimeoutError,
    ProtocolError,
    ServerError,
)
from ctrader_sdk._framing import FrameDecoder, encode_frame
from ctrader_sdk._generated.common_messages import ProtoHeartbeatEvent
from ctrader_sdk._generated.errors import AlreadyLoggedInError, ChClientAlreadyAuthenticatedError
from ctrader_sdk._generated.messages import (
    ProtoOAAccountAuthReq,
    ProtoOAAccountDisconnectEvent,
    ProtoOAAccountLogoutReq,
    ProtoOAAccountsTokenInvalidatedEvent,
    ProtoOAApplicationAuthReq,
    ProtoOAClientDisconnectEvent,
    ProtoOAOrderErrorEvent,
    ProtoOASubscribeDepthQuotesReq,
    ProtoOASubscribeLiveTrendbarReq,
    ProtoOASubscribeSpotsReq,
    ProtoOAUnsubscribeDepthQuotesReq,
    ProtoOAUnsubscribeLiveTrendbarReq,
    ProtoOAUnsubscribeSpotsReq,
    ProtoOAv1PnLChangeSubscribeReq,
    ProtoOAv1PnLChangeUnSubscribeReq,
    ProtoOAVersionReq,
)
from ctrader_sdk._generated.model_messages import ProtoOATrendbarPeriod
from ctrader_sdk._generated.requests import GeneratedRequests
from ctrader_sdk._ratelimit import RateLimiter
from ctrader_sdk._server_errors import server_error
from ctrader_sdk._transport import PushStream, SSLOption, Stream, StreamFactory, open_tcp_stream, resolve_ssl
from ctrader_sdk._wire import NOT_GIVEN, Message, NotGiven, Request

if TYPE_CHECKING:
    from ctrader_sdk.oauth import Token, TokenProvider

__all__ = [
    "Client",
    "is_retryable_request",
    "is_throttled",
    "is_transient",
    "retry_delay",
]

logger = logging.getLogger("ctrader_sdk")

_R = TypeVar("_R", bound=Message)
_E1 = TypeVar("_E1")
_E2 = TypeVar("_E2")
_E3 = TypeVar("_E3")
_C = TypeVar("_C", bound="Client")

_HEARTBEAT_FRAME = encode_frame(encode_envelope(ProtoHeartbeatEvent()))
_PROBE = ProtoOAVersionReq()
_PREFIXES: dict[int, bytes] = {}  # payload type → the envelope's bytes up to the payload's length
_SMALL = [bytes((n,)) for n in range(0x80)]  # one-byte varints


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _frame(message: Message, msg_id: str) -> bytes:
    """``encode_frame(encode_envelope(message, msg_id))`` for the send path, with the envelope's fixed
    part cached per payload type (``msg_id`` is ASCII, made by the client)."""
    payload_type = message.PAYLOAD_TYPE
    if payload_type is None:
        return encode_frame(encode_envelope(message, msg_id))  # raises the EncodeError
    prefix = _PREFIXES.get(payload_type)
    if prefix is None:
        prefix = _PREFIXES[payload_type] = b"\x08" + _varint(payload_type) + b"\x12"
    payload = message.to_bytes()
    ident = msg_id.encode("ascii")
    body = prefix + _varint(len(payload)) + payload + b"\x1a" + _varint(len(ident)) + ident
    return len(body).to_bytes(4, "big") + body


# ---------------------------------------------------------------------------------------------
# Policies


def is_retryable_request(message: Request[Any]) -> bool:
    """Whether the client may send ``message`` again by itself after the server throttled it.

    Never for the five trading requests (``TRADING``: new order, cancel, amend order, amend SL/TP,
    close position). A throttled trading request was most likely not executed, but "most likely" is
    not good enough for an order: sending it twice could open two positions. The caller gets the
    :class:`~ctrader_sdk.errors.BlockedPayloadTypeError` and decides, after reconciling if needed.

    Every other request reads data, authorises or (un)subscribes: sending it again has the same
    effect as sending it once, so it is retried.
    """
    return not message.TRADING


def is_throttled(error: BaseException) -> bool:
    """Whether ``error`` is the server saying "too many requests, try later" (``THROTTLE_CODES``)."""
    return isinstance(error, ServerError) and error.code in THROTTLE_CODES


def retry_delay(policy: RetryPolicy, retry_after: float | None, attempt: int) -> float | None:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry), or None to give up.

    The server's hint comes first: wait ``retry_after`` seconds. When it is missing, or shorter than
    the backoff for this attempt (the vendor sends whole seconds, often 0), wait the capped
    exponential backoff with jitter instead, so repeated refusals space out. A hint longer than
    ``policy.max_hint`` is not slept on: the error goes to the caller.
    """
    if attempt >= policy.max_attempts:
        return None
    backoff = policy.backoff.delay(attempt)
    if retry_after is None:
        return backoff
    if retry_after > policy.max_hint:
        return None
    return max(float(retry_after), backoff)


#: Server error codes that say "not now" rather than "no": worth another connection attempt.
TRANSIENT_SERVER_CODES = THROTTLE_CODES | {
    "SERVER_IS_UNDER_MAINTENANCE",  # the proxy is back after the maintenance window
    "CH_SERVER_NOT_REACHABLE",  # the trading server behind the proxy is restarting
    "CANT_ROUTE_REQUEST",  # same, seen from the proxy's router
    "CONNECTIONS_LIMIT_EXCEEDED",  # the proxy has not yet released the connection that just dropped
}


#: Server error codes saying that the access token an account was authorised with is no longer valid.
TOKEN_ERROR_CODES = frozenset({"OA_AUTH_TOKEN_EXPIRED", "CH_ACCESS_TOKEN_INVALID"})


def is_transient(error: BaseException) -> bool:
    """Whether a failure to (re)connect or to restore the session is worth another attempt.

    Transient, retried after a backoff:

    * connection failures and timeouts (``OSError``, ``TimeoutError`` and our subclasses of them):
      the network or the proxy is down, or restarting;
    * protocol errors: a proxy that sent garbage is broken now; a fresh connection starts a fresh
      stream;
    * server errors in :data:`TRANSIENT_SERVER_CODES` (throttling, maintenance, trading server
      unreachable, connection limit not yet released).

    Fatal, the client closes and raises the error:

    * a TLS certificate that does not verify (``ssl.SSLCertVerificationError``, also as the cause of a
      connection error): retrying cannot fix it, and it must never be worked around silently;
    * every other server refusal, e.g. ``CH_CLIENT_AUTH_FAILURE`` (the application credentials are
      wrong): the same request would be refused again;
    * anything else, which is a bug and should surface.
    """
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, _ssl.SSLCertVerificationError):
            return False
        cause = cause.__cause__
    if isinstance(error, ServerError):
        return error.code in TRANSIENT_SERVER_CODES
    return isinstance(error, (OSError, TimeoutError, ProtocolError))


# ---------------------------------------------------------------------------------------------
# Session state restored after a reconnection


class _Session:
    """What the server knows about us and must be told again on a new connection.

    Updated from the requests that succeeded (and from the server's account-disconnect events), so it
    always mirrors the server's view of the current connection.
    """

    __slots__ = ("accounts", "application", "depth", "pnl", "spots", "trendbars")

    def __init__(self) -> None:
        self.application: ProtoOAApplicationAuthReq | None = None
        self.accounts: dict[int, ProtoOAAccountAuthReq] = {}
        self.spots: dict[int, dict[int, bool | None]] = {}  # account → symbol → subscribe_to_spot_timestamp
        self.trendbars: dict[int, set[tuple[int, ProtoOATrendbarPeriod]]] = {}  # account → (symbol, period)
        self.depth: dict[int, set[int]] = {}  # account → symbols
        self.pnl: set[int] = set()  # accounts

    def record(self, message: Message) -> None:
        """Note the effect of a request the server accepted (requests without one are ignored)."""
        record = _RECORDERS.get(type(message))
        if record is not None:
            record(self, message)

    def _spots(self, message: ProtoOASubscribeSpotsReq) -> None:
        symbols = self.spots.setdefault(message.ctid_trader_account_id, {})
        for symbol in message.symbol_id:
            symbols[symbol] = message.subscribe_to_spot_timestamp

    def _unspots(self, message: ProtoOAUnsubscribeSpotsReq) -> None:
        symbols = self.spots.get(message.ctid_trader_account_id, {})
        for symbol in message.symbol_id:
            symbols.pop(symbol, None)

    def _trendbar(self, message: ProtoOASubscribeLiveTrendbarReq) -> None:
        bars = self.trendbars.setdefault(message.ctid_trader_account_id, set())
        bars.add((message.symbol_id, message.period))

    def _untrendbar(self, message: ProtoOAUnsubscribeLiveTrendbarReq) -> None:
        bars = self.trendbars.get(message.ctid_trader_account_id, set())
        bars.discard((message.symbol_id, message.period))

    def _depth(self, message: ProtoOASubscribeDepthQuotesReq) -> None:
        self.depth.setdefault(message.ctid_trader_account_id, set()).update(message.symbol_id)

    def _undepth(self, message: ProtoOAUnsubscribeDepthQuotesReq) -> None:
        self.depth.get(message.ctid_trader_account_id, set()).difference_update(message.symbol_id)

    def _pnl(self, message: ProtoOAv1PnLChangeSubscribeReq) -> None:
        self.pnl.add(message.ctid_trader_account_id)

    def _unpnl(self, message: ProtoOAv1PnLChangeUnSubscribeReq) -> None:
        self.pnl.discard(message.ctid_trader_account_id)

    def _application(self, message: ProtoOAApplicationAuthReq) -> None:
        self.application = message

    def _account(self, message: ProtoOAAccountAuthReq) -> None:
        self.accounts[message.ctid_trader_account_id] = message

    def _logout(self, message: ProtoOAAccountLogoutReq) -> None:
        self.forget_account(message.ctid_trader_account_id)

    def forget_account(self, account: int) -> None:
        """The account's session ended: stop restoring it and its subscriptions."""
        self.accounts.pop(account, None)
        self.spots.pop(account, None)
        self.trendbars.pop(account, None)
        self.depth.pop(account, None)
        self.pnl.discard(account)

    def forget(self, message: Message) -> None:
        """Stop restoring what ``message`` (a subscription request) set up."""
        if isinstance(message, ProtoOASubscribeSpotsReq):
            symbols = self.spots.get(message.ctid_trader_account_id, {})
            for symbol in message.symbol_id:
                symbols.pop(symbol, None)
        elif isinstance(message, ProtoOASubscribeLiveTrendbarReq):
            bars = self.trendbars.get(message.ctid_trader_account_id, set())
            bars.discard((message.symbol_id, message.period))
        elif isinstance(message, ProtoOASubscribeDepthQuotesReq):
            self.depth.get(message.ctid_trader_account_id, set()).difference_update(message.symbol_id)
        elif isinstance(message, ProtoOAv1PnLChangeSubscribeReq):
            self.pnl.discard(message.ctid_trader_account_id)

    def subscriptions(self, account: int) -> list[Request[Any]]:
        """The requests that re-create the account's subscriptions, spots first (live trendbars need them)."""
        requests: list[Request[Any]] = []
        by_option: dict[bool | None, list[int]] = {}
        for symbol, option in self.spots.get(account, {}).items():
            by_option.setdefault(option, []).append(symbol)
        for option, symbols in by_option.items():
            requests.append(
                ProtoOASubscribeSpotsReq(
                    ctid_trader_account_id=account, symbol_id=symbols, subscribe_to_spot_timestamp=option
                )
            )
        for symbol, period in sorted(self.trendbars.get(account, ())):
            requests.append(
                ProtoOASubscribeLiveTrendbarReq(
                    ctid_trader_account_id=account, symbol_id=symbol, period=period
                )
            )
        depth = self.depth.get(account)
        if depth:
            requests.append(
                ProtoOASubscribeDepthQuotesReq(ctid_trader_account_id=account, symbol_id=sorted(depth))
            )
        if account in self.pnl:
            requests.append(ProtoOAv1PnLChangeSubscribeReq(ctid_trader_account_id=account))
        return requests


#: Request class → how the session records its success (the requests that change what is restored).
_RECORDERS: dict[type[Message], Callable[[_Session, Any], None]] = {
    ProtoOAApplicationAuthReq: _Session._application,
    ProtoOAAccountAuthReq: _Session._account,
    ProtoOAAccountLogoutReq: _Session._logout,
    ProtoOASubscribeSpotsReq: _Session._spots,
    ProtoOAUnsubscribeSpotsReq: _Session._unspots,
    ProtoOASubscribeLiveTrendbarReq: _Session._trendbar,
    ProtoOAUnsubscribeLiveTrendbarReq: _Session._untrendbar,
    ProtoOASubscribeDepthQuotesReq: _Session._depth,
    ProtoOAUnsubscribeDepthQuotesReq: _Session._undepth,
    ProtoOAv1PnLChangeSubscribeReq: _Session._pnl,
    ProtoOAv1PnLChangeUnSubscribeReq: _Session._unpnl,
}


# ---------------------------------------------------------------------------------------------
# One connection


class _Pending:
    """A request waiting for its answer."""

    __slots__ = ("future", "response_type", "trading")

    def __init__(self, future: asyncio.Future[Message], request: Request[Any]) -> None:
        self.future = future
        self.response_type: type[Message] = request.RESPONSE_TYPE
        self.trading = request.TRADING


class _Connection:
    """One stream to the server, with its tasks and the requests waiting for answers on it."""

    __slots__ = (
        "decoder",
        "error",
        "keepalive",
        "last_received",
        "last_sent",
        "loop",
        "lost",
        "on_lost",
        "pending",
        "probe_sent",
        "reader",
        "stream",
        "time",
    )

    def __init__(
        self,
        stream: Stream,
        max_frame_size: int,
        loop: asyncio.AbstractEventLoop,
        on_lost: Callable[[_Connection, BaseException], None],
    ) -> None:
        self.stream = stream
        self.on_lost = on_lost
        self.decoder = FrameDecoder(max_frame_size)
        self.pending: dict[str, _Pending] = {}
        self.loop = loop
        self.time = loop.time
        self.last_sent = self.last_received = loop.time()
        self.probe_sent = False
        self.error: BaseException | None = None
        self.lost: asyncio.Future[BaseException] = loop.create_future()
        self.reader: asyncio.Task[None] | None = None
        self.keepalive: asyncio.Task[None] | None = None

    def write(self, frame: bytes) -> None:
        """Queue one frame for sending now (the caller then awaits :meth:`drain`).

        Raises:
            CTraderConnectionError: the connection is lost (or is lost by this write).
        """
        if self.error is not None:
            raise _lost_error(self.error)
        self.last_sent = self.time()
        try:
            self.stream.write(frame)
        except OSError as exc:
            self._failed(exc)

    async def drain(self) -> None:
        """Wait while the send buffer is full.

        Raises:
            CTraderConnectionError: the connection failed meanwhile.
        """
        try:
            await self.stream.drain()
        except OSError as exc:
            self._failed(exc)

    def _failed(self, exc: OSError) -> NoReturn:
        error = CTraderConnectionError(f"the connection failed while sending: {exc}")
        error.__cause__ = exc
        self.abort(error)
        raise error

    def abort(self, error: BaseException) -> None:
        """End the connection for ``error`` (the first one given wins; later calls do nothing).

        The owner hears of it at once, through ``on_lost``, and both tasks are cancelled.
        """
        if self.error is not None:
            return
        self.error = error
        self.on_lost(self, error)
        current = asyncio.current_task()
        for task in (self.reader, self.keepalive):
            if task is not None and task is not current:
                task.cancel()

    async def aclose(self) -> None:
        """Stop both tasks, wait for them, and close the stream."""
        tasks = [t for t in (self.reader, self.keepalive) if t is not None]
        for task in tasks:
            task.cancel()
        try:
            if tasks:
                await asyncio.wait(tasks)
        finally:  # even when cancelled meanwhile: the socket must not leak
            await self.stream.aclose()


def _lost_error(error: BaseException) -> CTraderError:
    """The error a request gets when its connection ended with ``error``."""
    if isinstance(error, ClientClosedError):
        return ClientClosedError(str(error))
    exc = CTraderConnectionError(f"the connection was lost: {error}")
    exc.__cause__ = error
    return exc


# ---------------------------------------------------------------------------------------------
# The client


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"

    value: str


class _Connect(Generic[_C]):
    """What :meth:`Client.connect` returns: await it for an open client, or use it with ``async with``."""

    __slots__ = ("_client",)

    def __init__(self, client: _C) -> None:
        self._client = client

    async def _open(self) -> _C:
        await self._client.open()
        return self._client

    def __await__(self) -> Generator[Any, None, _C]:
        return self._open().__await__()

    async def __aenter__(self) -> _C:
        return await self._open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.close()


class Client(GeneratedRequests):
    """An asyncio client for the cTrader Open API.

    Every request of the API is a typed method (inherited from the generated request layer), e.g.
    ``await client.version()``; all of them go through :meth:`request`. Events arrive through
    :meth:`events` (async iterators) or :meth:`on` (callbacks).

    ::

        async with Client.connect(Endpoints.DEMO) as client:
            await client.application_auth(client_id=CID, client_secret=SECRET)
            await client.account_auth(ctid_trader_account_id=acct, access_token=TOKEN)
            async with client.events(ProtoOASpotEvent, ctid_trader_account_id=acct) as spots:
                await client.subscribe_spots(ctid_trader_account_id=acct, symbol_id=[1])
                async for spot in spots:
                    ...

    Lifecycle: a client is opened once (:meth:`open`, ``await Client.connect(...)`` or
    ``async with``) and closed once (:meth:`close`); it cannot be reopened. While open it reconnects
    by itself when the connection drops (see :class:`~ctrader_sdk.ReconnectPolicy`), re-authorises
    the application and every account and restores every subscription, then emits
    :class:`~ctrader_sdk.Reconnected`.

    Access tokens: with a ``token_provider`` (an ``async () -> Token`` callable such as
    :class:`~ctrader_sdk.oauth.StoredTokenProvider` or :class:`~ctrader_sdk.InProtocolTokenProvider`),
    the client keeps its accounts authorised past the token's expiry. Once an account is authorised it
    asks the provider for the token and, ``config.token_refresh_margin`` seconds before that token
    expires, asks again; it also asks when the server invalidates the token
    (``ProtoOAAccountsTokenInvalidatedEvent``) or refuses a request with ``OA_AUTH_TOKEN_EXPIRED`` /
    ``CH_ACCESS_TOKEN_INVALID``. Every account authorised with another token (or invalidated) is then
    authorised again with the provider's token (``ALREADY_LOGGED_IN`` counts as success), the
    subscriptions the server ended are restored, later reconnections use the new token, and
    :class:`~ctrader_sdk.TokenRefreshed` is emitted. A read request refused for the token is sent again
    once the accounts are re-authorised; a trading request is not (the error is raised). Without a
    provider, accounts whose token the server invalidated are dropped from the session.

    Args:
        endpoint: where to connect, e.g. ``Endpoints.DEMO``.
        ssl: True (default) for TLS with the system's trusted certificates and host name check; an
            ``ssl.SSLContext`` of your own (e.g. one trusting a test server's certificate); False or
            None for plain TCP, only for a server that does not speak TLS.
        config: tunables (timeouts, rate limits, reconnection...).
        stream_factory: opens the byte stream instead of a TCP connection (an in-memory pipe in
            tests); called again for every reconnection. ``endpoint`` and ``ssl`` are then unused.
        token_provider: gives the current access token, renewed when due (see above); also settable
            later through :attr:`token_provider`.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        ssl: SSLOption = True,
        config: ClientConfig | None = None,
        stream_factory: StreamFactory | None = None,
        token_provider: TokenProvider | None = None,
    ) -> None:
        if not isinstance(endpoint, Endpoint):
            raise TypeError(
                f"endpoint must be an Endpoint, e.g. Endpoints.DEMO, not {type(endpoint).__name__}"
            )
        self._endpoint = endpoint
        self._ssl = resolve_ssl(ssl)
        self._config = config if config is not None else ClientConfig()
        self._stream_factory = stream_factory
        self._limiter = RateLimiter(self._config.rate_limits)
        self._dispatcher = Dispatcher()
        self._session = _Session()
        self._ids = itertools.count(1)
        self._state = _State.NEW
        self._conn: _Connection | None = None  # the connection requests use; None while reconnecting
        self._loop: asyncio.AbstractEventLoop | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None  # resolved when a connection is usable again
        self._closed: asyncio.Future[None] | None = None  # resolved when the client closes
        self._failure: BaseException | None = None  # why the client closed, when it was not close()
        self._token_provider = token_provider
        self._token_expires_at: float | None = None  # expiry of the provider's last token
        self._token_keeper: asyncio.Task[None] | None = None  # renews the token and re-authorises
        self._token_trigger: asyncio.Future[None] | None = None  # wakes the keeper before its time
        self._token_renewed: asyncio.Future[None] | None = None  # resolved when a renewal pass ends
        self._stale_accounts: set[int] = set()  # accounts whose token the server no longer accepts
        self._dispatcher.add(
            _Callback(
                (
                    ProtoOAAccountDisconnectEvent,
                    ProtoOAAccountsTokenInvalidatedEvent,
                    ProtoOAClientDisconnectEvent,
                ),
                None,
                self._on_session_event,
                self._dispatcher,
            )
        )

    def __repr__(self) -> str:
        return f"<Client {self._endpoint} {self.state}>"

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def connect(
        cls: type[_C],
        endpoint: Endpoint,
        *,
        ssl: SSLOption = True,
        config: ClientConfig | None = None,
        stream_factory: StreamFactory | None = None,
        token_provider: TokenProvider | None = None,
    ) -> _Connect[_C]:
        """Make a client and open it: ``await Client.connect(...)`` or ``async with Client.connect(...)``.

        The ``async with`` form closes the client on exit. Arguments as for :class:`Client`.

        Raises:
            CTraderConnectionError: the connection could not be opened.
            CTraderTimeoutError: it could not be opened within ``config.connect_timeout``.
        """
        return _Connect(
            cls(
                endpoint,
                ssl=ssl,
                config=config,
                stream_factory=stream_factory,
                token_provider=token_provider,
            )
        )

    @property
    def endpoint(self) -> Endpoint:
        """Where the client connects."""
        return self._endpoint

    @property
    def config(self) -> ClientConfig:
        """The client's configuration."""
        return self._config

    @property
    def token_provider(self) -> TokenProvider | None:
        """Gives the access token the client re-authorises its accounts with (see the class).

        May be set at any time, e.g. to an :class:`~ctrader_sdk.InProtocolTokenProvider` made with this
        client; ``None`` stops the renewals.
        """
        return self._token_provider

    @token_provider.setter
    def token_provider(self, provider: TokenProvider | None) -> None:
        self._token_provider = provider
        self._token_expires_at = None
        keeper, self._token_keeper = self._token_keeper, None
        if keeper is not None:
            keeper.cancel()
        self._start_token_keeper()

    @property
    def token_expires_at(self) -> float | None:
        """When the token provider's last token expires (epoch seconds); None before it was asked."""
        return self._token_expires_at

    @property
    def state(self) -> str:
        """``"new"``, ``"connected"``, ``"reconnecting"``, ``"closing"`` or ``"closed"``."""
        if self._state is _State.OPEN:
            return "connected" if self._conn is not None else "reconnecting"
        return self._state.value

    @property
    def is_connected(self) -> bool:
        """True while a connection is up and usable (not closed, not reconnecting)."""
        return self._state is _State.OPEN and self._conn is not None

    @property
    def closed(self) -> bool:
        """True once the client is closed (by :meth:`close` or because the connection was lost for good)."""
        return self._state is _State.CLOSED

    @property
    def pending_requests(self) -> int:
        """Requests sent and still waiting for their answer."""
        conn = self._conn
        return len(conn.pending) if conn is not None else 0

    async def open(self) -> None:
        """Open the connection (a client is opened once).

        The connection is not retried here: if the first connection fails, the error is raised and
        :meth:`open` may be called again.

        Raises:
            ClientClosedError: the client was closed; make a new one.
            CTraderConnectionError: the connection could not be opened (a certificate that does not
                verify is chained as the cause).
            CTraderTimeoutError: no connection within ``config.connect_timeout``.
        """
        if self._state is not _State.NEW:
            if self._state is _State.OPEN:
                raise RuntimeError("the client is already open")
            raise ClientClosedError("the client is closed and cannot be reopened: make a new Client")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._limiter = RateLimiter(self._config.rate_limits, loop.time)
        conn = await self._open_connection()
        self._state = _State.OPEN
        self._conn = conn
        self._ready = loop.create_future()
        self._ready.set_result(None)
        self._closed = loop.create_future()
        self._supervisor = loop.create_task(self._supervise(conn), name="ctrader-supervisor")
        logger.info("connected to %s", self._endpoint)
        self._dispatcher.dispatch(Connected(str(self._endpoint)))

    async def close(self) -> None:
        """Close the client: fail waiting requests, end event streams, close the connection. Idempotent.

        Requests still waiting for an answer raise :class:`ClientClosedError`; event streams end after
        their buffered events; async callbacks still running are cancelled.
        """
        if self._state is _State.NEW:
            self._state = _State.CLOSED
            await self._dispatcher.close(None)
            return
        if self._state is _State.CLOSED:
            return
        supervisor = self._supervisor
        current = asyncio.current_task()
        if self._state is _State.OPEN:
            self._state = _State.CLOSING
            if supervisor is not None and supervisor is not current:
                supervisor.cancel()
        # Closing already (the supervisor gave up, or another close()): wait for it to complete.
        if supervisor is not None and supervisor is not current and not supervisor.done():
            await asyncio.wait((supervisor,))
        if self._state is not _State.CLOSED:
            await self._finish(None)

    async def _finish(self, error: BaseException | None) -> None:
        """Final step of closing, whether by :meth:`close` (``error`` None) or because of ``error``."""
        self._state = _State.CLOSING
        self._failure = error
        keeper, self._token_keeper = self._token_keeper, None
        if keeper is not None and keeper is not asyncio.current_task():
            keeper.cancel()
            await asyncio.wait((keeper,))
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort(error if error is not None else ClientClosedError("the client was closed"))
            await conn.aclose()
        self._state = _State.CLOSED
        for future in (self._closed, self._ready, self._token_renewed):
            if future is not None and not future.done():
                future.set_result(None)
        if error is None:
            logger.info("closed the connection to %s", self._endpoint)
        else:
            logger.error("closed the connection to %s for good: %s", self._endpoint, error)
        self._dispatcher.dispatch(Disconnected(error, will_reconnect=False))
        await self._dispatcher.close(None if error is None else _lost_error(error))

    async def __aenter__(self: _C) -> _C:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _closed_error(self) -> CTraderError:
        if self._state is _State.NEW:
            return ClientClosedError("the client is not open: use `await client.open()` or Client.connect()")
        if self._failure is not None:
            return _lost_error(self._failure)
        return ClientClosedError("the client is closed")

    # -- connections -----------------------------------------------------------------------------

    async def _open_connection(self) -> _Connection:
        """Open a stream and start its reader and keepalive tasks."""
        loop = asyncio.get_running_loop()
        config = self._config
        if self._stream_factory is None:
            stream: Stream = await open_tcp_stream(
                self._endpoint.host,
                self._endpoint.port,
                ssl=self._ssl,
                timeout=config.connect_timeout,
                buffer_limit=config.read_chunk_size,
            )
        else:
            try:
                stream = await asyncio.wait_for(self._stream_factory(), config.connect_timeout)
            except asyncio.TimeoutError:
                raise CTraderTimeoutError(f"no connection within {config.connect_timeout} s") from None
            except OSError as exc:
                raise CTraderConnectionError(f"cannot connect: {exc}") from exc
        conn = _Connection(stream, config.max_frame_size, loop, self._connection_lost)
        if isinstance(stream, PushStream):
            stream.start_reading(partial(self._receive, conn), partial(self._stream_closed, conn))
        else:
            conn.reader = loop.create_task(self._read_loop(conn), name="ctrader-reader")
        conn.keepalive = loop.create_task(self._keepalive(conn), name="ctrader-keepalive")
        return conn

    def _receive(self, conn: _Connection, data: bytes) -> None:
        """Decode and route every frame completed by ``data`` (one chunk received on ``conn``).

        The receive path: called by the event loop for each chunk (push streams) or by
        :meth:`_read_loop`. A frame that cannot be decoded ends the connection with a protocol error.
        """
        if conn.error is not None:
            return  # the connection is being torn down: the rest of the stream is ignored
        conn.last_received = conn.time()
        conn.probe_sent = False
        pending = conn.pending
        routes = self._dispatcher.routes
        decode = decode_envelope
        answer = self._answer
        try:
            for body in conn.decoder.feed(data):
                _, message, msg_id = decode(body)
                if msg_id is not None and pending:
                    entry = pending.get(msg_id)
                    if entry is not None and answer(pending, msg_id, entry, message):
                        continue
                sinks = routes.get(type(message))
                if sinks:
                    for sink in sinks:
                        sink.deliver(message)
        except ProtocolError as exc:
            logger.error("protocol error from %s: %s", self._endpoint, exc)
            conn.abort(exc)
        except Exception as exc:  # a decoder bug must not leave the client hanging
            logger.exception("cannot process a frame from %s", self._endpoint)
            error = ProtocolError(f"cannot process a frame: {exc!r}")
            error.__cause__ = exc
            conn.abort(error)

    def _stream_closed(self, conn: _Connection, exc: BaseException | None) -> None:
        """The stream of ``conn`` ended (``exc`` None: the server closed it)."""
        if conn.error is not None:
            return
        error: CTraderError
        buffered = conn.decoder.buffered
        if exc is not None:
            error = CTraderConnectionError(f"the connection failed: {exc}")
            error.__cause__ = exc
        elif buffered:
            error = ProtocolError(
                f"the server closed the connection in the middle of a frame ({buffered} bytes of it received)"
            )
            logger.error("protocol error from %s: %s", self._endpoint, error)
        else:
            error = CTraderConnectionError("the server closed the connection")
        conn.abort(error)

    async def _read_loop(self, conn: _Connection) -> None:
        """Feed :meth:`_receive` from a stream that has no push mode, until the stream ends."""
        read = conn.stream.read
        chunk_size = self._config.read_chunk_size
        try:
            while conn.error is None:
                data = await read(chunk_size)
                if not data:
                    self._stream_closed(conn, None)
                    return
                self._receive(conn, data)
        except asyncio.CancelledError:
            conn.abort(ClientClosedError("the client was closed"))  # no-op after an abort, as usual
            raise
        except OSError as exc:
            self._stream_closed(conn, exc)

    def _answer(self, pending: dict[str, _Pending], msg_id: str, entry: _Pending, message: Any) -> bool:
        """Settle the request waiting for ``msg_id`` if ``message`` answers it.

        Returns True when the message is used up; False when it must also reach the event streams (an
        execution or order-error event answering a trading request, or a message that is not an
        answer at all and leaves the request waiting).
        """
        future = entry.future
        if isinstance(message, entry.response_type):
            del pending[msg_id]
            if not future.done():
                future.set_result(message)
            return not entry.trading
        error = server_error(message)
        if error is None:
            return False
        del pending[msg_id]
        if not future.done():
            future.set_exception(error)
        return type(message) is not ProtoOAOrderErrorEvent

    def _connection_lost(self, conn: _Connection, error: BaseException) -> None:
        """Fail the requests waiting on ``conn`` and tell the supervisor (once per connection, from
        :meth:`_Connection.abort`)."""
        for entry in conn.pending.values():
            if not entry.future.done():
                entry.future.set_exception(_lost_error(error))
        conn.pending.clear()
        if self._conn is conn:
            self._conn = None
            if self._loop is not None and self._state is _State.OPEN:
                self._ready = self._loop.create_future()
        conn.lost.set_result(error)

    async def _keepalive(self, conn: _Connection) -> None:
        """Send a heartbeat when nothing was sent for ``heartbeat_interval``; probe a silent connection
        with a version request after half of ``receive_timeout``, and declare it dead after all of it."""
        config = self._config
        interval = config.heartbeat_interval
        deadline = config.receive_timeout
        clock = conn.time
        try:
            while conn.error is None:
                now = clock()
                silent = now - conn.last_received
                if silent >= deadline:
                    error = CTraderConnectionError(
                        f"nothing received for {deadline:g} s: the connection is dead"
                    )
                    conn.abort(error)  # the supervisor logs it
                    return
                if silent >= deadline / 2 and not conn.probe_sent and self._limiter.spend(_PROBE):
                    # Any answer, even an error, proves the server is alive; it matches no pending request.
                    conn.probe_sent = True
                    probe_id = f"probe-{next(self._ids)}"
                    conn.write(_frame(ProtoOAVersionReq(), probe_id))
                    await conn.drain()
                elif now - conn.last_sent >= interval:
                    conn.write(_HEARTBEAT_FRAME)
                    await conn.drain()
                wake = min(conn.last_sent + interval, conn.last_received + deadline)
                if not conn.probe_sent:
                    wake = min(wake, conn.last_received + deadline / 2)
                now = clock()
                await asyncio.sleep(max(wake - now, 0.001))
        except CTraderConnectionError:
            return  # the failed write already ended the connection

    async def _supervise(self, conn: _Connection) -> None:
        """Wait for the connection to end; reconnect and restore, or close the client for good."""
        assert self._loop is not None
        while True:
            error = await asyncio.shield(conn.lost)
            await conn.aclose()
            if self._state is not _State.OPEN:
                return
            policy = self._config.reconnect
            logger.warning("lost the connection to %s: %s", self._endpoint, error)
            if not policy.enabled:
                await self._finish(error)  # emits the final Disconnected
                return
            self._dispatcher.dispatch(Disconnected(error, will_reconnect=True))
            started = self._loop.time()
            try:
                conn, attempts, problems = await self._reconnect()
            except Exception as exc:
                await self._finish(exc)
                return
            self._conn = conn
            ready = self._ready
            if ready is not None and not ready.done():
                ready.set_result(None)
            downtime = self._loop.time() - started
            logger.info("reconnected to %s after %d attempt(s), %.2f s", self._endpoint, attempts, downtime)
            self._dispatcher.dispatch(Reconnected(attempts, downtime, tuple(problems)))

    async def _reconnect(self) -> tuple[_Connection, int, list[ServerError]]:
        """Connect again with capped exponential backoff until a connection is up and restored.

        Raises:
            Exception: a fatal error (see :func:`is_transient`), or the last error once
                ``reconnect.max_attempts`` attempts failed.
        """
        policy = self._config.reconnect
        attempt = 0
        while True:
            attempt += 1
            await self._sleep(policy.backoff.delay(attempt))
            conn: _Connection | None = None
            try:
                conn = await self._open_connection()
                problems = await self._restore_session(conn)
            except BaseException as exc:
                if conn is not None:
                    conn.abort(
                        exc if isinstance(exc, Exception) else ClientClosedError("the client was closed")
                    )
                    await conn.aclose()
                if not isinstance(exc, Exception) or not is_transient(exc):
                    raise
                if policy.max_attempts is not None and attempt >= policy.max_attempts:
                    raise CTraderConnectionError(
                        f"could not reconnect to {self._endpoint} in {attempt} attempts: {exc}"
                    ) from exc
                logger.warning("reconnection attempt %d to %s failed: %s", attempt, self._endpoint, exc)
                continue
            if conn.error is not None:  # lost again while restoring, without a request noticing
                await conn.aclose()
                continue
            return conn, attempt, problems

    async def _restore_session(self, conn: _Connection) -> list[ServerError]:
        """Bring a new connection to the state of the lost one; return the steps the server refused.

        In order: application auth, then per account its auth and its subscriptions (spots with their
        ``subscribe_to_spot_timestamp`` option, live trendbars, depth quotes, PnL). ``ALREADY_LOGGED_IN``
        and ``CH_CLIENT_ALREADY_AUTHENTICATED`` count as success. An account or subscription the server
        now refuses is dropped from the session and reported (the reconnection goes on); a refused
        application auth, or a transient error, fails this attempt.

        Raises:
            ServerError: the application auth was refused.
            CTraderConnectionError, CTraderTimeoutError: the new connection failed too.
        """
        session = self._session
        timeout = self._config.request_timeout
        problems: list[ServerError] = []
        if session.application is not None:
            with contextlib.suppress(ChClientAlreadyAuthenticatedError):
                await self._call(session.application, timeout, conn)
        for account, auth in list(session.accounts.items()):
            try:
                await self._call(auth, timeout, conn)
            except AlreadyLoggedInError:
                pass
            except ServerError as exc:
                if is_transient(exc):
                    raise
                if self._token_provider is not None and exc.code in TOKEN_ERROR_CODES:
                    # Kept: the token keeper re-authorises it with the provider's token, subscriptions too.
                    logger.warning("account %d: token refused on reconnection (%s)", account, exc.code)
                    self._trigger_token_renewal((account,))
                    continue
                logger.error("account %d could not be re-authorised: %s", account, exc)
                session.forget_account(account)
                problems.append(exc)
                continue
            await self._resubscribe(session, account, timeout, conn, problems)
        return problems

    async def _resubscribe(
        self,
        session: _Session,
        account: int,
        timeout: float | None,
        conn: _Connection | None,
        problems: list[ServerError],
    ) -> None:
        """Send again every subscription of ``account``; one the server now refuses is forgotten and
        reported in ``problems``, a transient failure propagates (the caller retries or reconnects)."""
        for request in session.subscriptions(account):
            try:
                await self._call(request, timeout, conn)
            except ServerError as exc:
                if is_transient(exc):
                    raise
                logger.error("could not restore %s: %s", type(request).__name__, exc)
                session.forget(request)
                problems.append(exc)

    def _on_session_event(self, event: Any) -> None:
        """The server ended account sessions: they are not restored on reconnection."""
        if isinstance(event, ProtoOAAccountDisconnectEvent):
            logger.warning("the server ended the session of account %d", event.ctid_trader_account_id)
            self._session.forget_account(event.ctid_trader_account_id)
        elif isinstance(event, ProtoOAAccountsTokenInvalidatedEvent):
            if self._token_provider is not None:
                logger.info(
                    "the access token of accounts %s was invalidated; re-authorising them",
                    event.ctid_trader_account_ids,
                )
                self._trigger_token_renewal(event.ctid_trader_account_ids)
                return
            logger.warning("the access token of accounts %s was invalidated", event.ctid_trader_account_ids)
            for account in event.ctid_trader_account_ids:
                self._session.forget_account(account)
        elif isinstance(event, ProtoOAClientDisconnectEvent):
            logger.warning("the server is disconnecting this client: %s", event.reason)

    # -- access token renewal ---------------------------------------------------------------------

    def _start_token_keeper(self) -> None:
        """Start the token keeper once a provider is set and an account is authorised on an open client."""
        loop = self._loop
        if (
            self._token_provider is None
            or self._token_keeper is not None
            or self._state is not _State.OPEN
            or loop is None
            or not self._session.accounts
        ):
            return
        self._token_keeper = loop.create_task(self._keep_token(), name="ctrader-token-keeper")

    def _trigger_token_renewal(self, accounts: Iterable[int]) -> None:
        """Have the keeper re-authorise ``accounts`` (those the session keeps) now."""
        self._stale_accounts.update(a for a in accounts if a in self._session.accounts)
        self._start_token_keeper()
        trigger = self._token_trigger
        if trigger is not None and not trigger.done():
            trigger.set_result(None)

    async def _wait_token_renewal(self, account: int, timeout: float | None) -> None:
        """Trigger the re-authorisation of ``account`` and wait (up to ``timeout``) for it to be done."""
        loop = asyncio.get_running_loop()
        renewed = self._token_renewed
        if renewed is None or renewed.done():
            renewed = self._token_renewed = loop.create_future()
        self._trigger_token_renewal((account,))
        closed = self._closed
        assert closed is not None  # requests run on an open client
        await asyncio.wait((renewed, closed), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if closed.done():
            raise self._closed_error()

    def _next_token_check(self, token: Token) -> float | None:
        """When (epoch seconds) to ask the provider again after it gave ``token``; None: on a trigger only."""
        now = time.time()
        due = token.expires_at - self._config.token_refresh_margin
        if due > now:
            return due
        if token.expires_at > now:  # the provider did not refresh within our margin: try at expiry
            return token.expires_at
        return None  # expired: the server will tell (invalidation event, refused request)

    async def _keep_token(self) -> None:
        """Renew the token when due or triggered, until the client closes (the task is cancelled then)."""
        loop = asyncio.get_running_loop()
        closed = self._closed
        assert closed is not None
        wake_at: float | None = time.time()  # the first pass learns the token's expiry
        failures = 0
        while self._state is _State.OPEN:
            trigger = self._token_trigger = loop.create_future()
            if self._stale_accounts and not failures:  # after a failure, wait for the backoff
                trigger.set_result(None)
            timeout = None if wake_at is None else max(wake_at - time.time(), 0.0)
            await asyncio.wait((trigger, closed), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if closed.done():
                return
            try:
                token = await self._renew_token()
            except Exception as exc:
                if self._state is not _State.OPEN:
                    return
                failures += 1
                delay = self._config.reconnect.backoff.delay(failures)
                logger.error("cannot renew the access token (retry in %.1f s): %s", delay, exc)
                wake_at = time.time() + delay
                continue
            finally:
                renewed, self._token_renewed = self._token_renewed, None
                if renewed is not None and not renewed.done():
                    renewed.set_result(None)
            failures = 0
            wake_at = self._next_token_check(token)

    async def _renew_token(self) -> Token:
        """One renewal pass: get the provider's token, re-authorise every account that was authorised
        with another token or whose token was invalidated, restore the subscriptions the server ended,
        and emit :class:`TokenRefreshed` if an account was re-authorised."""
        provider = self._token_provider
        assert provider is not None  # the keeper runs with a provider only
        session = self._session
        timeout = self._config.request_timeout
        token = await provider()
        self._token_expires_at = token.expires_at
        renewed: list[int] = []
        problems: list[ServerError] = []
        while True:
            todo = [
                account
                for account, auth in session.accounts.items()
                if account in self._stale_accounts or auth.access_token != token.access_token
            ]
            self._stale_accounts.clear()
            if not todo:
                break
            try:
                for account in todo:
                    await self._reauthorise(account, token, timeout, renewed, problems)
            except BaseException:
                self._stale_accounts.update(todo)  # not done: the next pass tries again
                raise
        if renewed or problems:
            accounts = tuple(sorted(set(renewed)))
            logger.info("re-authorised accounts %s with the renewed access token", accounts)
            self._dispatcher.dispatch(TokenRefreshed(accounts, token.expires_at, tuple(problems)))
        return token

    async def _reauthorise(
        self,
        account: int,
        token: Token,
        timeout: float | None,
        renewed: list[int],
        problems: list[ServerError],
    ) -> None:
        """Authorise ``account`` with ``token``; restore its subscriptions if the server had ended them."""
        session = self._session
        auth = ProtoOAAccountAuthReq(ctid_trader_account_id=account, access_token=token.access_token)
        try:
            await self._call(auth, timeout, None)
            fresh = True  # a new server-side session: the old one's subscriptions are gone
        except AlreadyLoggedInError:
            fresh = False  # the session (and its subscriptions) lives on
        except ServerError as exc:
            if is_transient(exc):
                raise
            previous = session.accounts.get(account)
            if (
                exc.code in TOKEN_ERROR_CODES
                and previous is not None
                and previous.access_token == auth.access_token
            ):
                # The provider has nothing newer than the token the server ended (yet: another program
                # may be storing the new pair): keep the account, the keeper tries again after a backoff.
                raise
            logger.error("account %d could not be re-authorised with the new token: %s", account, exc)
            session.forget_account(account)
            problems.append(exc)
            return
        if account not in session.accounts:  # logged out meanwhile
            return
        session.accounts[account] = auth
        renewed.append(account)
        if not fresh:
            return
        await self._resubscribe(session, account, timeout, None, problems)

    async def _sleep(self, delay: float) -> None:
        """Sleep, but wake with :class:`ClientClosedError` if the client closes meanwhile."""
        closed = self._closed
        assert closed is not None  # only an open client sleeps
        if not closed.done():
            await asyncio.wait((closed,), timeout=delay)
        if closed.done():
            raise self._closed_error()

    # -- requests --------------------------------------------------------------------------------

    async def request(self, message: Request[_R], *, timeout: float | NotGiven | None = NOT_GIVEN) -> _R:
        """Send a request and return the message that answers it (typed by the request's class).

        A trading request (new order, cancel, amend, amend SL/TP, close position) returns the first
        ``ProtoOAExecutionEvent`` the server correlates with it; that event and all later ones also
        reach the event streams.

        Requests pass the client-side rate limiter first (see :class:`~ctrader_sdk.RateLimits`). A read
        request the server still throttles (``BLOCKED_PAYLOAD_TYPE``) is retried after ``retryAfter``
        (see :func:`retry_delay`); trading requests never are (:func:`is_retryable_request`).
        While the client reconnects, a request waits for the session to be restored. A request not yet
        written when the connection drops (queued behind the rate limiter) goes on the next connection;
        one already written fails with :class:`CTraderConnectionError` and is not re-sent.

        Args:
            message: any request message.
            timeout: seconds to wait, per attempt, for the connection to be usable and the answer to
                arrive; ``None`` waits forever; not given: ``config.request_timeout``. Time spent queued
                behind the client-side rate limiter is not counted.

        Raises:
            ServerError: the server refused the request: the per-code subclass from
                :mod:`ctrader_sdk.errors` (``ServerError`` itself for an unknown code); for a trading
                request refused with ``ProtoOAOrderErrorEvent``, a class that is both that and
                :class:`OrderError`.
            CTraderTimeoutError: no answer within ``timeout`` (nothing is left pending).
            CTraderConnectionError: the connection dropped before the answer came; the request is not
                re-sent.
            ClientClosedError: the client is closed, or closed while the request waited.
            EncodeError: the message cannot be encoded (nothing was sent).
        """
        if not isinstance(message, Request):
            raise TypeError(f"request() takes a request message, not {type(message).__name__}")
        wait = self._config.request_timeout if isinstance(timeout, NotGiven) else timeout
        try:
            response = await self._exchange(self._conn, message, wait)
        except ServerError as exc:
            account = self._token_refused(message, exc)
            if account is not None:
                # The account's token is no longer accepted: re-authorise with the provider's, then
                # send a read request again (it had no effect); a trading request is never re-sent.
                await self._wait_token_renewal(account, wait)
                if message.TRADING:
                    raise
                response = await self._call(message, wait, None)
            else:
                response = await self._call(message, wait, None, refused=exc)
        self._session.record(message)
        if type(message) is ProtoOAAccountAuthReq:
            self._start_token_keeper()
        return cast(_R, response)

    def _token_refused(self, message: Request[Any], error: ServerError) -> int | None:
        """The account, if ``error`` refuses ``message`` because the token of an account we keep is no
        longer valid and a token provider can fix it (an account auth refused for its own token is the
        caller's business)."""
        account = error.ctid_trader_account_id
        if (
            self._token_provider is None
            or error.code not in TOKEN_ERROR_CODES
            or type(message) is ProtoOAAccountAuthReq
            or account not in self._session.accounts
        ):
            return None
        return account

    async def _call(
        self,
        message: Request[Any],
        timeout: float | None,
        conn: _Connection | None,
        *,
        refused: ServerError | None = None,
    ) -> Message:
        """Send ``message`` and wait for its answer, retrying throttled read requests.

        Args:
            message: the request.
            timeout: per attempt, as for :meth:`request`.
            conn: pins the connection (while restoring one); None uses the current connection,
                waiting for a reconnection in progress.
            refused: the server's refusal of a first attempt already made.
        """
        attempt = 1
        while True:
            if refused is not None:
                delay = (
                    retry_delay(self._config.retry, refused.retry_after, attempt)
                    if is_throttled(refused) and is_retryable_request(message)
                    else None
                )
                if delay is None:
                    raise refused
                logger.warning(
                    "%s throttled by the server (%s); retry %d in %.2f s",
                    type(message).__name__,
                    refused.code,
                    attempt,
                    delay,
                )
                await self._sleep(delay)
                attempt += 1
            try:
                return await self._exchange(conn, message, timeout, pinned=conn is not None)
            except ServerError as exc:
                refused = exc

    async def _queue_for_tokens(self, message: Request[Any]) -> None:
        """Wait for the rate limiter's tokens; give up with the client's closed error if it closes.

        Only requests that must wait come here (a task per waiting request, as they are paced anyway).
        """
        limiter = self._limiter
        closed = self._closed
        assert closed is not None  # requests are sent on an open client only
        waiter = asyncio.ensure_future(limiter.acquire(message))
        try:
            await asyncio.wait((waiter, closed), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            _abandon(waiter, limiter, message)
            raise
        if waiter.done() and not closed.done():
            return
        _abandon(waiter, limiter, message)
        raise self._closed_error()

    async def _wait_ready(self, timeout: float | None) -> _Connection:
        """The current connection, waiting up to ``timeout`` for a reconnection in progress."""
        conn = self._conn
        if conn is not None and self._state is _State.OPEN:
            return conn
        if self._state is not _State.OPEN:
            raise self._closed_error()
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            ready, closed = self._ready, self._closed
            assert ready is not None and closed is not None
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise CTraderTimeoutError(f"not reconnected within {timeout} s")
            await asyncio.wait((ready, closed), timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            if self._state is not _State.OPEN:
                raise self._closed_error()
            conn = self._conn
            if conn is not None:
                return conn

    async def _exchange(
        self, conn: _Connection | None, message: Request[Any], timeout: float | None, *, pinned: bool = False
    ) -> Message:
        """Send ``message`` once with a fresh ``clientMsgId`` and wait for the answer.

        Takes the rate limiter's tokens first and gives them back when the answer arrives (or the
        request is given up). Unless ``pinned``, a request whose connection is down, or went down while
        it queued behind the limiter, goes on the next connection: it was not sent yet.
        """
        if not pinned and (conn is None or conn.error is not None):
            conn = await self._wait_ready(timeout)
        assert conn is not None
        limiter = self._limiter
        if not limiter.try_acquire(message):
            await self._queue_for_tokens(message)
        try:
            while not pinned and conn.error is not None:
                conn = await self._wait_ready(timeout)
            if self._state is _State.CLOSED:
                raise self._closed_error()
            msg_id = str(next(self._ids))
            frame = _frame(message, msg_id)  # an EncodeError leaves nothing behind
            loop = conn.loop
            future: asyncio.Future[Message] = loop.create_future()
            pending = conn.pending
            pending[msg_id] = _Pending(future, message)
            timer: asyncio.TimerHandle | None = None
            try:
                conn.write(frame)
                await conn.drain()
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("sent %s #%s", type(message).__name__, msg_id)
                if timeout is not None:
                    timer = loop.call_later(timeout, _expire, future, type(message).__name__, timeout)
                return await future
            finally:
                pending.pop(msg_id, None)
                if timer is not None:
                    timer.cancel()
        finally:
            limiter.release(message)

    # -- events ----------------------------------------------------------------------------------

    @overload
    def events(
        self,
        event_type: type[_E1],
        /,
        *,
        ctid_trader_account_id: int | Iterable[int] | None = None,
        symbol_id: int | Iterable[int] | None = None,
        buffer_size: int | NotGiven | None = NOT_GIVEN,
    ) -> EventStream[_E1]: ...

    @overload
    def events(
        self,
        event_type: type[_E1],
        event_type2: type[_E2],
        /,
        *,
        ctid_trader_account_id: int | Iterable[int] | None = None,
        symbol_id: int | Iterable[int] | None = None,
        buffer_size: int | NotGiven | None = NOT_GIVEN,
    ) -> EventStream[_E1 | _E2]: ...

    @overload
    def events(
        self,
        event_type: type[_E1],
        event_type2: type[_E2],
        event_type3: type[_E3],
        /,
        *,
        ctid_trader_account_id: int | Iterable[int] | None = None,
        symbol_id: int | Iterable[int] | None = None,
        buffer_size: int | NotGiven | None = NOT_GIVEN,
    ) -> EventStream[_E1 | _E2 | _E3]: ...

    @overload
    def events(
        self,
        *event_types: type[Any],
        ctid_trader_account_id: int | Iterable[int] | None = None,
        symbol_id: int | Iterable[int] | None = None,
        buffer_size: int | NotGiven | None = NOT_GIVEN,
    ) -> EventStream[Any]: ...

    def events(
        self,
        *event_types: type[Any],
        ctid_trader_account_id: int | Iterable[int] | None = None,
        symbol_id: int | Iterable[int] | None = None,
        buffer_size: int | NotGiven | None = NOT_GIVEN,
    ) -> EventStream[Any]:
        """A stream of the events of the given classes, typed by them.

        ``async for spot in client.events(ProtoOASpotEvent)`` types ``spot`` as ``ProtoOASpotEvent``.
        The stream buffers from the moment it is made, so make it *before* subscribing to the data.
        Use it as an async context manager (or call :meth:`EventStream.close`) to unsubscribe.

        Args:
            event_types: event message classes (e.g. ``ProtoOASpotEvent``, ``ProtoOAExecutionEvent``)
                and/or lifecycle events (:class:`Connected`, :class:`Disconnected`, :class:`Reconnected`).
            ctid_trader_account_id: only events of this account (or of these accounts).
            symbol_id: only events of this symbol (or these symbols).
            buffer_size: bound of a market-data stream (oldest dropped and counted when full); None for
                unbounded; not given: ``config.event_buffer_size``. Streams with other events are
                always unbounded: trading events are never dropped.

        Raises:
            TypeError: a class is not an event type.
            ValueError: a filter names a field an event type lacks, or a bound is asked for a stream
                that carries events that are never dropped.
            ClientClosedError: the client is closed.
        """
        if self._state is _State.CLOSED:
            raise self._closed_error()
        return make_stream(
            self._dispatcher,
            event_types,
            market_data=MARKET_DATA_EVENTS,
            default_size=self._config.event_buffer_size,
            buffer_size=buffer_size,
            account=ctid_trader_account_id,
            symbol=symbol_id,
        )

    @overload
    def on(
        self,
        event_type: type[_E1],
        callback: Callable[[_E1], object],
        /,
        *,
        ctid_trader_account_id: int | Iterable[int] | None = None,
        symbol_id: int | Iterable[int] | None = None,
    ) -> Subscription: ...

    @overload
    def on(
        self,
        event_type: tuple[type[Any], ...],
        callback: Callable[[Any], object],
        /,
        *,
        ctid_trader_account_id: int | Iterable[int] | None = None,
        symbol_id: int | Iterable[int] | None = None,
    ) -> Subscription: ...

    def on(
        self,
        event_type: type[Any] | tuple[type[Any], ...],
        callback: Callable[[Any], object],
        /,
        *,
        ctid_trader_account_id: int | Iterable[int] | None = None,
        symbol_id: int | Iterable[int] | None = None,
    ) -> Subscription:
        """Call ``callback(event)`` for every event of the given class(es); returns a removable handle.

        A plain function is called in the receive loop, so it must be quick and must not block; an
        ``async def`` function runs as a task per event (cancelled if the client closes). Exceptions
        from callbacks are logged and never stop delivery.

        Args:
            event_type: an event class, or a tuple of them.
            callback: the function to call.
            ctid_trader_account_id: only events of this account (or of these accounts).
            symbol_id: only events of this symbol (or these symbols).

        Raises:
            TypeError, ValueError: as for :meth:`events`.
            ClientClosedError: the client is closed.
        """
        if self._state is _State.CLOSED:
            raise self._closed_error()
        types = event_type if isinstance(event_type, tuple) else (event_type,)
        return make_subscription(
            self._dispatcher, types, callback, account=ctid_trader_account_id, symbol=symbol_id
        )


def _abandon(waiter: asyncio.Future[None], limiter: RateLimiter, message: Message) -> None:
    """Give up a wait for tokens: cancel it, or give the tokens back if it already got them."""
    if not waiter.done():
        waiter.cancel()
    elif not waiter.cancelled() and waiter.exception() is None:
        limiter.release(message)


def _expire(future: asyncio.Future[Message], name: str, timeout: float) -> None:
    if not future.done():
        future.set_exception(CTraderTimeoutError(f"no answer to {name} within {timeout:g} s"))


Client.__module__ = "ctrader_sdk"
