from __future__ import annotations

import secrets

from django.utils import timezone

from apiauth.models import ApiToken, hash_key


def token_create(*, name: str, is_staff: bool = False, throttle_rate: str = "") -> tuple[ApiToken, str]:
    """Create a token and return it with its key, which is never stored or shown again."""
    key = secrets.token_urlsafe(32)
    token = ApiToken(name=name, key_hash=hash_key(key), prefix=key[:8], is_staff=is_staff,
                     throttle_rate=throttle_rate)
    token.full_clean()
    token.save()
    return token, key


def token_revoke(*, token: ApiToken) -> None:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
