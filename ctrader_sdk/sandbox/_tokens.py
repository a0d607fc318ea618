"""Access and refresh tokens as the vendor issues them.

An access token lives ``access_token_lifetime`` seconds and grants every configured account. A
refresh token does not expire but is spent on use: ``ProtoOARefreshTokenReq`` issues a new pair and
makes the old access token invalid at once. Token values are secrets and never logged.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["Token", "TokenRegistry", "TokenState"]


class TokenState(Enum):
    """What a presented access token is worth."""

    VALID = "valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class Token:
    """An access token, its refresh token and what it grants.

    Attributes:
        access_token: the access token value.
        refresh_token: the refresh token issued with it.
        expires_at: wall-clock expiry in milliseconds.
        account_ids: the accounts it grants.
        revoked: set when a refresh replaced the token.
        refresh_spent: set when its refresh token was used.
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: int
    account_ids: frozenset[int]
    revoked: bool = False
    refresh_spent: bool = False


class TokenRegistry:
    """Every token the sandbox issued, by access token value.

    Args:
        access_token: the configured initial access token.
        refresh_token: the configured initial refresh token.
        account_ids: the accounts every token grants.
        lifetime_ms: access token lifetime in milliseconds.
        now: issue time (ms) of the initial token.
    """

    def __init__(
        self, access_token: str, refresh_token: str, account_ids: frozenset[int], lifetime_ms: int, now: int
    ) -> None:
        self.lifetime_ms = lifetime_ms
        self._account_ids = account_ids
        self._tokens: dict[str, Token] = {}
        self.current = self._add(access_token, refresh_token, now)

    def _add(self, access_token: str, refresh_token: str, now: int) -> Token:
        token = Token(access_token, refresh_token, now + self.lifetime_ms, self._account_ids)
        self._tokens[access_token] = token
        return token

    def lookup(self, access_token: str) -> Token | None:
        """The token with this value, whatever its state, or ``None`` if it was never issued."""
        return self._tokens.get(access_token)

    def state(self, access_token: str, now: int) -> TokenState:
        """Whether ``access_token`` may be used at ``now``."""
        token = self._tokens.get(access_token)
        if token is None:
            return TokenState.UNKNOWN
        if token.revoked:
            return TokenState.REVOKED
        if now >= token.expires_at:
            return TokenState.EXPIRED
        return TokenState.VALID

    def refresh(self, refresh_token: str, now: int) -> tuple[Token, Token] | None:
        """Spend ``refresh_token``: revoke its access token and issue a new pair.

        Returns:
            (old token, new token), or ``None`` when the refresh token is unknown or already spent.
        """
        for token in self._tokens.values():
            if token.refresh_token == refresh_token and not token.refresh_spent:
                break
        else:
            return None
        token.refresh_spent = True
        token.revoked = True
        new = self._add(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now)
        self.current = new
        return token, new
