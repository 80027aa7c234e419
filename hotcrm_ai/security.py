"""What production asks of its configuration, and the Content-Security-Policy of every page.

Hand-written: Django 5.2 has no CSP support of its own (6.0 adds it), and one fixed policy
for every response needs no library."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# Django's own bar (check --deploy, security.W009), plus an entropy floor: a long key made of a
# few characters repeated is as guessable as a short one, and the credentials key and the
# artifact signing key are derived from this one.
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_UNIQUE = 5
MIN_SECRET_KEY_BITS = 128


def secret_key_weakness(key: str) -> str | None:
    """Why `key` is too weak for production, or None."""
    if key.startswith("django-insecure-"):
        return "it is Django's generated development key"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"it is shorter than {MIN_SECRET_KEY_LENGTH} characters"
    unique = len(set(key))
    if unique < MIN_SECRET_KEY_UNIQUE:
        return f"it has fewer than {MIN_SECRET_KEY_UNIQUE} different characters"
    # An upper bound on the key's entropy if each character were drawn uniformly from the
    # characters it uses; real keys (secrets.token_urlsafe(50)) have about 400 bits.
    if len(key) * math.log2(unique) < MIN_SECRET_KEY_BITS:
        return f"it holds less than {MIN_SECRET_KEY_BITS} bits of entropy"
    return None


class ContentSecurityPolicyMiddleware:
    """`CONTENT_SECURITY_POLICY` on every response that has none of its own."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
