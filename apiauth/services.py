from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
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


def first_admin_create(*, username: str = "admin", password: str = "") -> tuple[AbstractBaseUser, str] | None:
    """The first superuser, when there is none yet: `password`, or a random one. Returns it
    with its password (to be shown once, never logged), or None when a superuser exists."""
    users = get_user_model()
    if users.objects.filter(is_superuser=True).exists():
        return None
    password = password or secrets.token_urlsafe(16)
    user = users(**{users.USERNAME_FIELD: username}, is_staff=True, is_superuser=True)
    validate_password(password, user)
    user.set_password(password)
    user.full_clean()
    user.save()
    return user, password
