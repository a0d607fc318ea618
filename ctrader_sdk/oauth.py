"""OAuth 2 helper for the cTrader Open API: authorization URL, code exchange, refresh, token file.

The cTrader flow is a plain authorization-code grant with a twist or two:

1. The user's browser is sent to the vendor's grant page (:meth:`OAuth.authorization_url`). After the user
   consents, the vendor redirects the browser to the application's ``redirect_uri`` with ``?code=...``
   (or ``?error=...`` when the user refused).
2. The code is exchanged for a token pair with
   ``GET {token_url}/apps/token?grant_type=authorization_code&...`` (:meth:`OAuth.exchange_code`).
   The vendor answers JSON with camelCase keys and reports its own errors with HTTP 200 and an
   ``errorCode`` key.
3. The access token lives about 30 days; the refresh token does not expire but is *spent* when used
   (:meth:`OAuth.refresh` returns a new pair, which must be stored, see :class:`TokenStore`).

For command-line programs, :func:`login_flow` runs the whole dance: it listens on the loopback address named
by the redirect URI, opens the browser, checks ``state``, and exchanges the code. A long-running program can
hand a :class:`StoredTokenProvider` (an ``async () -> Token`` callable) to whatever needs a fresh token.

Errors, all subclasses of :class:`ctrader_sdk._exceptions.OAuthError`::

    OAuthError
    ├── OAuthServerError           the token endpoint said no (``errorCode`` in its JSON answer)
    ├── OAuthHTTPError             the token endpoint answered a non-2xx HTTP status
    ├── OAuthResponseError         the answer was not JSON
    │   └── OAuthMalformedResponseError   JSON, but not a token (e.g. no ``accessToken``)
    ├── OAuthConnectionError (also ConnectionError)   the token endpoint could not be reached
    ├── OAuthTimeoutError (also TimeoutError)         no answer (or no browser redirect) in time
    ├── OAuthRedirectError         the browser came back with something unusable
    │   ├── OAuthStateMismatchError   ``state`` differs from the one sent: possible forgery
    │   └── OAuthDeniedError          the user (or the vendor) refused the grant
    ├── OAuthListenerError         the local redirect listener could not be started
    ├── TokenFormatError (also ValueError)   a token dict has the wrong shape
    └── TokenStoreError            the token file could not be read or written

Secrets (the client secret, authorization codes, access and refresh tokens) never appear in exception
messages, ``repr`` or log records of this module (logger ``ctrader_sdk.oauth``).

aiohttp is imported lazily, inside the functions that do network I/O, so importing this module is cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import math
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlencode, urlsplit

from ._exceptions import OAuthError

if TYPE_CHECKING:
    import aiohttp
    import yarl
    from aiohttp import web

__all__ = [
    "DEFAULT_AUTH_URL",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOKEN_URL",
    "TOKEN_FILE_ENV",
    "OAuth",
    "OAuthConnectionError",
    "OAuthDeniedError",
    "OAuthError",
    "OAuthHTTPError",
    "OAuthListenerError",
    "OAuthMalformedResponseError",
    "OAuthRedirectError",
    "OAuthResponseError",
    "OAuthServerError",
    "OAuthStateMismatchError",
    "OAuthTimeoutError",
    "Scope",
    "StoredTokenProvider",
    "Token",
    "TokenFormatError",
    "TokenProvider",
    "TokenStore",
    "TokenStoreError",
    "login_flow",
]

logger = logging.getLogger("ctrader_sdk.oauth")

#: The vendor's grant page (step 1 of the flow).
DEFAULT_AUTH_URL: Final = "https://id.ctrader.com/my/settings/openapi/grantingaccess/"
#: Base of the token endpoint; ``/apps/token`` is appended.
DEFAULT_TOKEN_URL: Final = "https://openapi.ctrader.com"
#: Seconds allowed for one token request (connect + answer).
DEFAULT_TIMEOUT: Final = 30.0
#: Environment variable naming the token file used by :class:`TokenStore` when no path is given.
TOKEN_FILE_ENV: Final = "CTRADER_TOKEN_FILE"

_TOKEN_PATH: Final = "/apps/token"
_REDACTED: Final = "[redacted]"
# Query parameters of the token endpoint whose values are secret.
_SECRET_PARAMS: Final = frozenset({"client_secret", "code", "refresh_token"})


# --------------------------------------------------------------------------------------------------- errors


class OAuthServerError(OAuthError):
    """The token endpoint refused the request: its JSON answer carried an ``errorCode``.

    The vendor reports its errors with HTTP 200, e.g. ``{"errorCode": "ACCESS_DENIED", "description": ...}``
    for a spent refresh token or an already used authorization code.

    Attributes:
        code: the vendor's error code, e.g. ``"ACCESS_DENIED"``.
        description: the vendor's explanation, when given.
        status: the HTTP status of the answer.
    """

    def __init__(self, code: str, description: str | None = None, *, status: int | None = None) -> None:
        self.code = code
        self.description = description
        self.status = status
        super().__init__(
            f"token endpoint refused the request: {code}" + (f": {description}" if description else "")
        )


class OAuthHTTPError(OAuthError):
    """The token endpoint answered with a non-2xx HTTP status.

    Attributes:
        status: the HTTP status code.
        reason: the HTTP reason phrase, when given.
        code: the vendor's ``errorCode``, when the body was JSON carrying one.
        description: the vendor's ``description``, when the body was JSON carrying one.
    """

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        *,
        code: str | None = None,
        description: str | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.code = code
        self.description = description
        text = f"token endpoint answered HTTP {status}" + (f" {reason}" if reason else "")
        if code is not None:
            text += f" ({code}" + (f": {description})" if description else ")")
        elif description:
            text += f" ({description})"
        super().__init__(text)


class OAuthResponseError(OAuthError):
    """The token endpoint answered something that is not a JSON document.

    Attributes:
        status: the HTTP status of the answer.
    """

    def __init__(self, message: str, *, status: int) -> None:
        self.status = status
        super().__init__(message)


class OAuthMalformedResponseError(OAuthResponseError):
    """The token endpoint answered JSON that is not a token (e.g. no ``accessToken``, wrong types)."""


class OAuthConnectionError(OAuthError, ConnectionError):
    """The token endpoint could not be reached, or the connection broke before the answer was read."""


class OAuthTimeoutError(OAuthError, TimeoutError):
    """No answer arrived in time: from the token endpoint, or from the browser in :func:`login_flow`."""


class OAuthRedirectError(OAuthError):
    """The browser's redirect back to the application could not be used (see the subclasses)."""


class OAuthStateMismatchError(OAuthRedirectError):
    """The redirect carried a ``state`` other than the one sent: it may be forged, so it was refused."""


class OAuthDeniedError(OAuthRedirectError):
    """The grant was refused: the redirect carried ``error`` instead of ``code``.

    Attributes:
        error: the ``error`` parameter, e.g. ``"access_denied"``.
        description: the ``error_description`` parameter, when given.
    """

    def __init__(self, error: str, description: str | None = None) -> None:
        self.error = error
        self.description = description
        super().__init__(f"authorization refused: {error}" + (f": {description}" if description else ""))


class OAuthListenerError(OAuthError):
    """The local redirect listener of :func:`login_flow` could not be started (e.g. the port is taken)."""


class TokenFormatError(OAuthError, ValueError):
    """A token dict (:meth:`Token.from_dict`) does not have the expected keys or types."""


class TokenStoreError(OAuthError):
    """The token file could not be read or written, or it is not a token file written by this module.

    Attributes:
        path: the token file concerned.
    """

    def __init__(self, message: str, *, path: Path) -> None:
        self.path = path
        super().__init__(message)


# ---------------------------------------------------------------------------------------------- redaction


def _redact(text: str, secret_values: Iterable[str]) -> str:
    """Replace every occurrence of each secret in ``text`` by a marker.

    The secrets are looked for raw and in their URL-encoded forms. Text that still holds a secret once
    percent-decoded (a server may quote a request in its own, partial encoding) is replaced by its decoded
    form, scrubbed.
    """
    values = [value for value in secret_values if value]

    def scrub(text: str) -> str:
        for value in values:
            forms = {value, quote(value), quote(value, safe=""), quote_plus(value)}
            for form in sorted(forms, key=len, reverse=True):
                text = text.replace(form, _REDACTED)
        return text

    text = scrub(text)
    for decode in (unquote, unquote_plus):
        decoded = decode(text)
        if any(value in decoded for value in values):
            text = scrub(decoded)
    return text


def _redacted_url(url: str, params: Mapping[str, str]) -> str:
    """``url`` with its query built from ``params``, the secret values replaced by a marker (for logs)."""
    query = "&".join(
        f"{quote(key)}={_REDACTED if key in _SECRET_PARAMS else quote(value, safe='')}"
        for key, value in params.items()
    )
    return f"{url}?{query}"


# ---------------------------------------------------------------------------------------------- the model


class Scope(str, Enum):
    """The access an application asks for on the grant page.

    ``TRADING`` allows trading on the granted accounts; ``ACCOUNTS`` allows reading them only.
    Members are strings (``Scope.TRADING == "trading"``) and format as their value.
    """

    TRADING = "trading"
    ACCOUNTS = "accounts"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, repr=False)
class Token:
    """An access/refresh token pair as issued by the token endpoint.

    The ``repr`` hides both token values. Instances are immutable: a refresh returns a new ``Token``.

    Attributes:
        access_token: the bearer token sent in ``ProtoOAGetAccountListByAccessTokenReq`` and friends.
        refresh_token: the single-use token that obtains the next pair (:meth:`OAuth.refresh`).
        expires_at: when the access token expires, in absolute epoch seconds (computed from the endpoint's
            ``expiresIn`` at receipt).
        token_type: as sent by the endpoint, normally ``"bearer"``.
        scope: the scope that was granted (``"trading"`` or ``"accounts"``), when known.
    """

    access_token: str
    refresh_token: str
    expires_at: float
    token_type: str = "bearer"
    scope: str | None = None

    def __repr__(self) -> str:
        return (
            f"Token(access_token=<hidden>, refresh_token=<hidden>, expires_at={self.expires_at!r}, "
            f"token_type={self.token_type!r}, scope={self.scope!r})"
        )

    @property
    def expires_in(self) -> float:
        """Seconds until the access token expires, negative once expired."""
        return self.expires_at - time.time()

    @property
    def expired(self) -> bool:
        """Whether the access token has expired by now."""
        return self.expires_within(0.0)

    def expires_within(self, seconds: float) -> bool:
        """Whether the access token expires (or has expired) within ``seconds`` from now.

        A token holder uses it to refresh ahead of time: ``if token.expires_within(3600): ...``.
        """
        return time.time() + seconds >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        """The token as a JSON-compatible dict with snake_case keys, read back by :meth:`from_dict`.

        The dict holds the secret values: keep it out of logs.
        """
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "token_type": self.token_type,
            "scope": self.scope,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        """Build a token from a dict written by :meth:`to_dict`, checking every key.

        Raises:
            TokenFormatError: ``data`` is not a mapping, a required key is missing or a value has the wrong
                type. The message names the key, never the value.
        """
        if not isinstance(data, Mapping):
            raise TokenFormatError(f"a token must be a JSON object, not {type(data).__name__}")
        for key in ("access_token", "refresh_token"):
            value = data.get(key)
            if not isinstance(value, str) or not value:
                raise TokenFormatError(f"token key {key!r} must be a non-empty string")
        expires_at = data.get("expires_at")
        if (
            isinstance(expires_at, bool)
            or not isinstance(expires_at, (int, float))
            or not math.isfinite(expires_at)
        ):
            raise TokenFormatError("token key 'expires_at' must be a number (epoch seconds)")
        token_type = data.get("token_type", "bearer")
        if not isinstance(token_type, str):
            raise TokenFormatError("token key 'token_type' must be a string")
        scope = data.get("scope")
        if scope is not None and not isinstance(scope, str):
            raise TokenFormatError("token key 'scope' must be a string or null")
        return cls(
            access_token=data["access_token"],
            refresh_token=data["refresh_token"],
            expires_at=float(expires_at),
            token_type=token_type,
            scope=scope,
        )


#: What a client takes to obtain a currently valid token, e.g. a :class:`StoredTokenProvider`.
TokenProvider = Callable[[], Awaitable[Token]]


# ----------------------------------------------------------------------------------------- the HTTP side


class OAuth:
    """The application's side of the cTrader OAuth flow.

    Use it as an async context manager to share one HTTP session between calls; used without ``async with``
    (or after :meth:`aclose`), each token request opens and closes its own session, so nothing leaks.

    Args:
        client_id: the application's client id (public: it appears in the grant page URL).
        client_secret: the application's client secret; hidden from ``repr``, logs and error messages.
        redirect_uri: the redirect URI registered for the application; needed by :meth:`authorization_url`,
            :meth:`exchange_code` and :func:`login_flow`, not by :meth:`refresh`.
        auth_url: the grant page, :data:`DEFAULT_AUTH_URL` by default.
        token_url: the base of the token endpoint (``/apps/token`` is appended), :data:`DEFAULT_TOKEN_URL` by
            default; point it at a test server or a proxy.
        timeout: seconds allowed for each token request, connection included.
        session: an ``aiohttp.ClientSession`` to use instead of our own; it is not closed by :meth:`aclose`.

    Example::

        async with OAuth(client_id, client_secret, redirect_uri="http://127.0.0.1:8080/callback") as oauth:
            url = oauth.authorization_url(scope=Scope.TRADING, state=state)
            token = await oauth.exchange_code(code)
            token = await oauth.refresh(token)
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        redirect_uri: str | None = None,
        auth_url: str = DEFAULT_AUTH_URL,
        token_url: str = DEFAULT_TOKEN_URL,
        timeout: float = DEFAULT_TIMEOUT,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if not client_id:
            raise ValueError("client_id must not be empty")
        if not client_secret:
            raise ValueError("client_secret must not be empty")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.auth_url = auth_url
        self.token_url = token_url
        self.timeout = timeout
        self._session = session
        self._owns_session = False

    def __repr__(self) -> str:
        return (
            f"OAuth(client_id={self.client_id!r}, client_secret=<hidden>, "
            f"redirect_uri={self.redirect_uri!r}, token_url={self.token_url!r})"
        )

    async def __aenter__(self) -> OAuth:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session opened by ``async with`` (a session passed in is left open)."""
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            self._owns_session = False
            await session.close()

    @property
    def token_endpoint(self) -> str:
        """The full URL of the token endpoint, without query."""
        return self.token_url.rstrip("/") + _TOKEN_PATH

    def _require_redirect_uri(self) -> str:
        if not self.redirect_uri:
            raise ValueError("this OAuth was created without redirect_uri, which this call needs")
        return self.redirect_uri

    def authorization_url(self, *, scope: Scope | str = Scope.TRADING, state: str | None = None) -> str:
        """The URL of the vendor's grant page, to open in the user's browser.

        Args:
            scope: the access asked for; ``"trading"`` or ``"accounts"``.
            state: an unguessable value the redirect should carry back, to tie it to this login (the vendor
                is reported not to always echo it). Omitted from the URL when ``None``.

        Returns:
            ``auth_url`` with the query ``client_id``, ``redirect_uri``, ``scope``, ``product=web`` and
            ``state``, URL-encoded. An ``auth_url`` that already has a query keeps it.
        """
        params = {
            "client_id": self.client_id,
            "redirect_uri": self._require_redirect_uri(),
            "scope": str(Scope(scope)),
            "product": "web",
        }
        if state is not None:
            params["state"] = state
        separator = "&" if urlsplit(self.auth_url).query else "?"
        return f"{self.auth_url}{separator}{urlencode(params)}"

    async def exchange_code(self, code: str, *, scope: Scope | str | None = None) -> Token:
        """Exchange the authorization code from the redirect for a token pair.

        Args:
            code: the ``code`` parameter of the redirect. It is single-use.
            scope: the scope that was asked for, recorded on the returned token (the endpoint does not say).

        Returns:
            The new token; ``expires_at`` is computed from ``expiresIn`` on receipt.

        Raises:
            OAuthServerError: the endpoint answered an ``errorCode`` (e.g. a used or expired code).
            OAuthHTTPError: the endpoint answered a non-2xx status.
            OAuthResponseError: the answer was not JSON; :class:`OAuthMalformedResponseError` when it was
                JSON but not a token.
            OAuthConnectionError: the endpoint could not be reached.
            OAuthTimeoutError: no complete answer within ``timeout``.
        """
        if not code:
            raise ValueError("code must not be empty")
        params = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self._require_redirect_uri(),
            "client_id": self.client_id,
            "client_secret": self._client_secret,
        }
        return await self._request_token(params, scope=None if scope is None else str(Scope(scope)))

    async def refresh(self, refresh_token: str | Token, *, scope: Scope | str | None = None) -> Token:
        """Obtain a new token pair with a refresh token.

        The refresh token is spent by this call whatever happens next: store the returned pair before
        anything else (see :class:`TokenStore`).

        Args:
            refresh_token: the refresh token, or a :class:`Token` whose refresh token (and scope) is used.
            scope: the scope to record on the new token; by default that of the ``Token`` passed, if any.

        Returns:
            The new token.

        Raises:
            The same errors as :meth:`exchange_code`; a spent or unknown refresh token gives
            :class:`OAuthServerError`.
        """
        if isinstance(refresh_token, Token):
            if scope is None:
                scope = refresh_token.scope
            refresh_token = refresh_token.refresh_token
        if not refresh_token:
            raise ValueError("refresh_token must not be empty")
        params = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.client_id,
            "client_secret": self._client_secret,
        }
        # A scope read from a token file is kept as is, even if this version does not know it.
        scope_text = None if scope is None else str(scope)
        return await self._request_token(params, scope=scope_text)

    async def _request_token(self, params: dict[str, str], *, scope: str | None) -> Token:
        """Send one token request and turn the answer into a :class:`Token` or a typed error."""
        import aiohttp
        import yarl

        endpoint = self.token_endpoint
        secret_values = [value for key, value in params.items() if key in _SECRET_PARAMS]
        logger.debug("GET %s", _redacted_url(endpoint, params))
        # The query is encoded here, once, by urlencode; yarl must not re-encode it.
        url = yarl.URL(f"{endpoint}?{urlencode(params)}", encoded=True)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            if self._session is not None:
                status, reason, content_type, body = await self._get(self._session, url, timeout)
            else:
                async with aiohttp.ClientSession() as session:
                    status, reason, content_type, body = await self._get(session, url, timeout)
        # aiohttp's exceptions may quote the full URL, secrets included: they are redacted and not chained.
        except asyncio.TimeoutError:
            logger.debug("token request to %s timed out after %s s", endpoint, self.timeout)
            raise OAuthTimeoutError(f"no answer from {endpoint} within {self.timeout} s") from None
        except aiohttp.ClientError as exc:
            detail = _redact(str(exc), secret_values) or type(exc).__name__
            logger.debug("token request to %s failed: %s", endpoint, detail)
            raise OAuthConnectionError(f"cannot get an answer from {endpoint}: {detail}") from None
        token = _parse_token_answer(status, reason, content_type, body, secret_values, scope=scope)
        logger.debug("received a %s token expiring in %.0f s", token.token_type, token.expires_in)
        return token

    @staticmethod
    async def _get(
        session: aiohttp.ClientSession, url: yarl.URL, timeout: aiohttp.ClientTimeout
    ) -> tuple[int, str | None, str, bytes]:
        # Redirects are not followed: they would replay the secret-bearing query to another location.
        async with session.get(url, timeout=timeout, allow_redirects=False) as response:
            body = await response.read()
            return response.status, response.reason, response.content_type, body


def _parse_token_answer(
    status: int,
    reason: str | None,
    content_type: str,
    body: bytes,
    secret_values: list[str],
    *,
    scope: str | None,
) -> Token:
    """Turn a token endpoint answer into a :class:`Token`, or raise the typed error it calls for."""
    ok = 200 <= status < 300
    try:
        data: Any = json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        if not ok:
            raise OAuthHTTPError(status, reason) from None
        raise OAuthResponseError(
            f"token endpoint answered HTTP {status} with a body that is not JSON "
            f"({content_type or 'no content type'}, {len(body)} bytes)",
            status=status,
        ) from None

    def text(key: str) -> str | None:
        value = data.get(key) if isinstance(data, dict) else None
        return None if value is None else _redact(str(value), secret_values)

    error_code, description = text("errorCode"), text("description")
    if not ok:
        raise OAuthHTTPError(status, reason, code=error_code, description=description)
    if not isinstance(data, dict):
        raise OAuthMalformedResponseError(
            f"token endpoint answered a JSON {type(data).__name__}, not an object", status=status
        )
    if error_code:  # the vendor sends "errorCode": null on success
        raise OAuthServerError(error_code, description, status=status)
    access_token = data.get("accessToken")
    if not isinstance(access_token, str) or not access_token:
        raise OAuthMalformedResponseError("token endpoint answer has no 'accessToken'", status=status)
    refresh_token = data.get("refreshToken")
    if not isinstance(refresh_token, str) or not refresh_token:
        raise OAuthMalformedResponseError("token endpoint answer has no 'refreshToken'", status=status)
    expires_in = data.get("expiresIn")
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, (int, float))
        or not math.isfinite(expires_in)
        or expires_in < 0
    ):
        raise OAuthMalformedResponseError("token endpoint answer has no valid 'expiresIn'", status=status)
    token_type = data.get("tokenType")
    if token_type is not None and not isinstance(token_type, str):
        raise OAuthMalformedResponseError("token endpoint answer has a non-string 'tokenType'", status=status)
    return Token(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=time.time() + expires_in,
        token_type=token_type or "bearer",
        scope=scope,
    )


# --------------------------------------------------------------------------------------------- token file


def _default_token_path() -> Path:
    override = os.environ.get(TOKEN_FILE_ENV)
    if override:
        return Path(override).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME")
    base = Path(config_home) if config_home else Path.home() / ".config"
    return base / "ctrader_sdk" / "token.json"


class TokenStore:
    """A token kept in a JSON file readable by its owner only.

    The file holds ``{"format": "ctrader_sdk.token/1", "token": {...}}``. The format marker lets the store
    tell its own files from anything else at that path: a file that is not valid JSON, lacks the marker,
    or holds a malformed token is reported with :class:`TokenStoreError` and is never overwritten silently.

    Args:
        path: the token file. By default ``$CTRADER_TOKEN_FILE``, else
            ``$XDG_CONFIG_HOME/ctrader_sdk/token.json``, else ``~/.config/ctrader_sdk/token.json``.
    """

    FORMAT: Final = "ctrader_sdk.token/1"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else _default_token_path()

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    @staticmethod
    def default_path() -> Path:
        """The path used when none is given, following the environment as described on the class."""
        return _default_token_path()

    def load(self) -> Token | None:
        """Read the stored token.

        Returns:
            The token, or ``None`` when the file does not exist.

        Raises:
            TokenStoreError: the file cannot be read, is not JSON, was not written by this store, or holds
                a malformed token.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TokenStoreError(
                f"cannot read token file {self.path}: {exc.strerror}", path=self.path
            ) from exc
        self._warn_if_exposed()
        return self._decode(raw)

    def save(self, token: Token, *, force: bool = False) -> None:
        """Write ``token`` to the file, atomically, readable by its owner only (mode 0600).

        The token goes to a new file in the same directory (created with mode 0600, flushed and fsync'ed),
        which then replaces the old one in one step: a crash leaves either the old or the new file, never a
        torn one. Missing parent directories are created with mode 0700.

        Args:
            token: the token to store.
            force: overwrite the file even if it is corrupt or not ours. By default such a file is left
                alone and an error raised, as it may hold something the user wants to keep.

        Raises:
            TokenStoreError: the file exists and is not a valid token file of ours (and ``force`` is false),
                or the file cannot be written; the old file is then left intact.
        """
        if not force and self.path.exists():
            try:
                self._decode(self.path.read_bytes())
            except TokenStoreError as exc:
                raise TokenStoreError(
                    f"{exc}; refusing to overwrite it (move it away, or save with force=True)", path=self.path
                ) from exc
            except OSError as exc:
                raise TokenStoreError(
                    f"cannot read existing token file {self.path}: {exc.strerror}", path=self.path
                ) from exc
        payload = json.dumps({"format": self.FORMAT, "token": token.to_dict()}, indent=2) + "\n"
        directory = self.path.parent
        tmp = directory / f".{self.path.name}.{secrets.token_hex(8)}.tmp"
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            flags = (
                os.O_WRONLY
                | os.O_CREAT
                | os.O_EXCL
                | getattr(os, "O_NOFOLLOW", 0)
                | getattr(os, "O_BINARY", 0)
            )
            fd = os.open(tmp, flags, 0o600)
            try:
                with open(fd, "wb", closefd=True) as file:  # mode 0600: a umask can only remove bits
                    file.write(payload.encode("utf-8"))
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise TokenStoreError(
                f"cannot write token file {self.path}: {exc.strerror or exc}", path=self.path
            ) from exc
        _fsync_directory(directory)
        logger.debug("token saved to %s", self.path)

    def _decode(self, raw: bytes) -> Token:
        try:
            document = json.loads(raw)
        except ValueError:
            raise TokenStoreError(
                f"token file {self.path} is not valid JSON (corrupt?)", path=self.path
            ) from None
        if not isinstance(document, dict) or "format" not in document:
            raise TokenStoreError(
                f"{self.path} is not a ctrader_sdk token file (no {self.FORMAT!r} format marker)",
                path=self.path,
            )
        if document["format"] != self.FORMAT:
            raise TokenStoreError(
                f"token file {self.path} has format {document['format']!r}; "
                f"this version reads {self.FORMAT!r}",
                path=self.path,
            )
        try:
            token_dict: Any = document.get("token")  # from_dict checks that it is a mapping
            return Token.from_dict(token_dict)
        except TokenFormatError as exc:
            raise TokenStoreError(f"token file {self.path} is corrupt: {exc}", path=self.path) from None

    def _warn_if_exposed(self) -> None:
        if sys.platform == "win32":
            return
        with contextlib.suppress(OSError):
            mode = self.path.stat().st_mode
            if mode & 0o077:
                logger.warning(
                    "token file %s is readable by other users (mode %o); run: chmod 600 %s",
                    self.path,
                    mode & 0o777,
                    self.path,
                )


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable on POSIX; a no-op where directories cannot be opened."""
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class StoredTokenProvider:
    """A :data:`TokenProvider` backed by a :class:`TokenStore`: returns the stored token, refreshed when due.

    When the stored access token expires within ``refresh_margin`` seconds, the provider refreshes it and
    saves the new pair before returning it. Calls are serialised by a lock, so concurrent callers in one
    event loop never spend the same refresh token twice (separate processes sharing a file are not
    coordinated).

    Args:
        oauth: performs the refresh.
        store: where the token is read and the new pair written.
        refresh_margin: seconds before expiry from which the token is refreshed.
    """

    def __init__(self, oauth: OAuth, store: TokenStore, *, refresh_margin: float = 86_400.0) -> None:
        self.oauth = oauth
        self.store = store
        self.refresh_margin = refresh_margin
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"StoredTokenProvider({self.oauth!r}, {self.store!r}, refresh_margin={self.refresh_margin!r})"

    async def __call__(self) -> Token:
        """Return a token that is valid for at least ``refresh_margin`` seconds.

        Raises:
            TokenStoreError: there is no stored token (log in first), or the file is unusable.
            OAuthError: the refresh failed (see :meth:`OAuth.refresh`).
        """
        async with self._lock:
            token = self._load()
            if token.expires_within(self.refresh_margin):
                token = await self._refresh(token)
            return token

    async def refresh(self) -> Token:
        """Refresh the stored token now, whatever its expiry, save and return the new pair."""
        async with self._lock:
            return await self._refresh(self._load())

    def _load(self) -> Token:
        token = self.store.load()
        if token is None:
            raise TokenStoreError(f"no token stored in {self.store.path}; log in first", path=self.store.path)
        return token

    async def _refresh(self, token: Token) -> Token:
        new = await self.oauth.refresh(token)
        self.store.save(new)
        logger.info("token refreshed; the new one expires in %.0f s", new.expires_in)
        return new


# ------------------------------------------------------------------------------------- local login flow


_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: sans-serif; margin: 3em"><h1>{title}</h1><p>{message}</p></body></html>
"""


def _page(status: int, title: str, message: str) -> web.Response:
    from aiohttp import web

    response = web.Response(
        status=status,
        text=_PAGE.format(title=html.escape(title), message=html.escape(message)),
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
    response.force_close()  # let the listener shut down without waiting on a kept-alive connection
    return response


def _listen_address(redirect_uri: str) -> tuple[str, int, str]:
    """The (host, port, path) to listen on for ``redirect_uri``, which must be plain HTTP on loopback."""
    parts = urlsplit(redirect_uri)
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(
            f"login_flow needs a redirect URI on http://127.0.0.1 (or localhost), not {redirect_uri!r}"
        )
    try:
        port = parts.port or 80
    except ValueError:
        raise ValueError(f"invalid port in redirect URI {redirect_uri!r}") from None
    return ("::1" if host == "::1" else "127.0.0.1"), port, parts.path or "/"


def _print_url(url: str) -> None:
    print(f"Open this URL in a browser to grant access:\n{url}", file=sys.stderr, flush=True)


async def login_flow(
    oauth: OAuth,
    *,
    scope: Scope | str = Scope.TRADING,
    open_browser: bool = True,
    timeout: float = 300.0,
    state: str | None = None,
    show_url: Callable[[str], object] | None = None,
) -> Token:
    """Log in interactively: grant page in the browser, redirect to a local listener, code exchange.

    Steps: listen on the host, port and path of ``oauth.redirect_uri`` (which must be
    ``http://127.0.0.1:<port>/<path>`` or ``localhost``; the listener binds loopback only), open the grant
    page in the browser (or hand its URL to ``show_url``), wait for the browser's redirect, answer it with a
    small HTML page, shut the listener down, and exchange the code.

    ``state`` protects against a forged redirect: a redirect carrying a different ``state`` is refused. The
    vendor is reported not to echo ``state``, so a redirect without one is accepted, with a warning logged.
    A request to the redirect path carrying neither ``code`` nor ``error`` (someone opening the URL by hand)
    is answered 400 and the flow keeps waiting.

    Args:
        oauth: the application credentials and endpoints; ``redirect_uri`` must be set.
        scope: the access asked for.
        open_browser: open the grant page with :func:`webbrowser.open`. When false, or when no browser
            could be started, the URL goes to ``show_url``.
        timeout: seconds to wait for the redirect.
        state: the ``state`` value to send; a random one (``secrets.token_urlsafe``) by default.
        show_url: called with the grant page URL when it must be shown to the user; by default it is
            printed to stderr.

    Returns:
        The token, with ``scope`` recorded on it.

    Raises:
        ValueError: ``oauth.redirect_uri`` is missing or not a loopback HTTP URI.
        OAuthListenerError: the listener could not be started (port in use, ...).
        OAuthTimeoutError: no redirect arrived within ``timeout``.
        OAuthStateMismatchError: the redirect carried a different ``state``.
        OAuthDeniedError: the redirect carried ``error`` (the user declined, ...).
        OAuthError: the code exchange failed (see :meth:`OAuth.exchange_code`).
    """
    import webbrowser

    from aiohttp import web

    redirect_uri = oauth._require_redirect_uri()
    host, port, path = _listen_address(redirect_uri)
    scope = Scope(scope)
    if state is None:
        state = secrets.token_urlsafe(32)
    expected_state = state
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_redirect(request: web.Request) -> web.StreamResponse:
        # Never log request.query or the URL: it carries the authorization code.
        if outcome.done():
            return _page(409, "Already done", "This login has already completed. You can close this tab.")
        query = request.query
        error, code, got_state = query.get("error"), query.get("code"), query.get("state")
        if error is None and not code:
            logger.warning("request to the redirect path without 'code' or 'error' ignored")
            return _page(400, "Not a login redirect", "This address expects a redirect from the grant page.")
        if got_state is None:
            logger.warning("the redirect carries no 'state'; accepted, as the vendor may not echo it")
        elif not secrets.compare_digest(got_state.encode(), expected_state.encode()):
            logger.warning("redirect refused: its 'state' differs from the one sent")
            outcome.set_exception(
                OAuthStateMismatchError("the redirect carried a different 'state'; it was refused (forged?)")
            )
            return _page(400, "Login refused", "The redirect did not match this login attempt. Try again.")
        if error is not None:
            denied = OAuthDeniedError(error, query.get("error_description"))
            outcome.set_exception(denied)
            return _page(400, "Access not granted", f"{denied}. You can close this tab.")
        assert code is not None  # checked above
        outcome.set_result(code)
        return _page(
            200, "Login successful", "Access granted. You can close this tab and return to the terminal."
        )

    app = web.Application()
    app.router.add_get(path, on_redirect)
    # No access log: the request line holds the authorization code.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise OAuthListenerError(
                f"cannot listen on {host}:{port} for the redirect: {exc.strerror or exc}"
            ) from exc
        logger.info("waiting for the redirect on %s", redirect_uri)
        url = oauth.authorization_url(scope=scope, state=state)
        opened = False
        if open_browser:
            try:
                opened = await asyncio.to_thread(webbrowser.open, url)
            except webbrowser.Error as exc:
                logger.warning("cannot open a browser: %s", exc)
        if not opened:
            (show_url or _print_url)(url)
        try:
            code = await asyncio.wait_for(outcome, timeout)
        except asyncio.TimeoutError:
            raise OAuthTimeoutError(f"no redirect from the browser within {timeout:g} s") from None
    finally:
        await runner.cleanup()
    return await oauth.exchange_code(code, scope=scope)
