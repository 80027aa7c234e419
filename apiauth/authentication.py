from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions

from apiauth.models import ApiToken, TokenUser, hash_key
from apiauth.selectors import token_get_active


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>`, checked against the stored hash."""

    keyword = "Token"

    def authenticate(self, request: Any) -> tuple[TokenUser, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header: use 'Authorization: Token <key>'.")
        try:
            key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = token_get_active(hash_key(key))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return TokenUser(token), token

    def authenticate_header(self, request: Any) -> str:
        return self.keyword
