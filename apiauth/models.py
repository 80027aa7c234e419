from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.db import models


def hash_key(key: str) -> str:
    # Keys are 256-bit random strings, so a plain SHA-256 cannot be brute-forced; a slow
    # password hash would only add milliseconds to every API call.
    return hashlib.sha256(key.encode()).hexdigest()


def validate_rate(value: str) -> None:
    from apiauth.throttling import parse_rate

    try:
        parse_rate(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class ApiToken(models.Model):
    """A service token. Only the hash of its key is stored."""

    name = models.CharField(max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False, help_text="First characters of the key, to recognise it.")
    is_staff = models.BooleanField(default=False, help_text="Staff tokens may change the registry and clear the cache.")
    throttle_rate = models.CharField(
        max_length=20, blank=True, validators=[validate_rate],
        help_text="Requests allowed, e.g. '6000/min' (per s, min, hour or day). Blank: the default.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        # Rights of Django users outside any one model (apiauth/permissions.py).
        permissions = [
            ("view_dashboard", "Can view the dashboard, the API docs and read the API"),
            ("clear_cache", "Can clear the prediction cache"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class TokenUser:
    """The request.user of a token-authenticated call: not a Django user."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.is_staff = token.is_staff
        self.username = f"token:{token.name}"
        self.pk = None

    def __str__(self) -> str:
        return self.username
