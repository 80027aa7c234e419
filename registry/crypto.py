"""Provider credentials at rest: Fernet (AES-128-CBC + HMAC) from the `cryptography` package."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    key = settings.HOTCRM["CREDENTIALS_KEY"]
    if not key:
        digest = hashlib.sha256(b"hotcrm-credentials:" + settings.SECRET_KEY.encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    return Fernet(key.encode() if isinstance(key, str) else key)


def encrypt_credentials(credentials: dict[str, Any]) -> str:
    if not credentials:
        return ""
    return _fernet().encrypt(json.dumps(credentials).encode()).decode()


def decrypt_credentials(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        # Wrong key (rotated without re-encrypting): behave as if no credentials were set.
        return {}


def artifact_key() -> bytes:
    return hashlib.sha256(b"hotcrm-artifacts:" + settings.SECRET_KEY.encode()).digest()
