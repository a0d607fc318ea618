"""A token provider that refreshes over the Open API connection itself (``ProtoOARefreshTokenReq``).

:class:`InProtocolTokenProvider` is the in-protocol counterpart of
:class:`~ctrader_sdk.oauth.StoredTokenProvider` (which refreshes over HTTP): give it to the client
whose connection it uses, ``client.token_provider = InProtocolTokenProvider(client, token)``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from ctrader_sdk.oauth import Token, TokenStore

if TYPE_CHECKING:
    from ctrader_sdk._client import Client

__all__ = ["InProtocolTokenProvider"]

logger = logging.getLogger("ctrader_sdk.oauth")


class InProtocolTokenProvider:
    """A :data:`~ctrader_sdk.oauth.TokenProvider` that refreshes with the client's own connection.

    It holds a :class:`~ctrader_sdk.oauth.Token`. Called, it returns it, unless the access token expires
    within ``refresh_margin`` seconds: it then sends ``ProtoOARefreshTokenReq`` over ``client`` (whose
    application must be authorised), builds the new token (expiry from ``expiresIn``), saves it to
    ``store`` if one is given, and returns it. Calls are serialised, so a refresh token is never spent
    twice by this provider.

    Args:
        client: the client that sends the refresh request.
        token: the current token pair.
        store: where each new pair is saved (mode 0600), if anywhere.
        refresh_margin: seconds before expiry from which the token is refreshed; by default the client's
            ``config.token_refresh_margin``.
    """

    def __init__(
        self,
        client: Client,
        token: Token,
        *,
        store: TokenStore | None = None,
        refresh_margin: float | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.refresh_margin = refresh_margin
        self._token = token
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"InProtocolTokenProvider({self.client!r}, {self._token!r}, store={self.store!r})"

    @property
    def token(self) -> Token:
        """The token held now (the last one refreshed)."""
        return self._token

    async def __call__(self) -> Token:
        """Return the held token, refreshed first if it expires within the margin.

        Raises:
            ServerError: the server refused the refresh (e.g. ``CH_ACCESS_TOKEN_INVALID`` for a spent
                refresh token).
            TokenStoreError: the new pair could not be saved (it is still held and returned next time).
        """
        margin = self.refresh_margin
        if margin is None:
            margin = self.client.config.token_refresh_margin
        async with self._lock:
            if self._token.expires_within(margin):
                await self._refresh()
            return self._token

    async def refresh(self) -> Token:
        """Refresh now, whatever the expiry; return the new token."""
        async with self._lock:
            await self._refresh()
            return self._token

    async def _refresh(self) -> None:
        old = self._token
        answer = await self.client.refresh_token(refresh_token=old.refresh_token)
        self._token = Token(
            access_token=answer.access_token,
            refresh_token=answer.refresh_token,
            expires_at=time.time() + answer.expires_in,
            token_type=answer.token_type or "bearer",
            scope=old.scope,
        )
        logger.info("token refreshed in-protocol; the new one expires in %.0f s", self._token.expires_in)
        if self.store is not None:
            self.store.save(self._token)


InProtocolTokenProvider.__module__ = "ctrader_sdk"
