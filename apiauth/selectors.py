"""Token reads. Every API call authenticates, so active tokens are cached per process and
dropped when the tokens' shared generation moves (any token saved or deleted), or when
they are MAX_AGE old (what bounds staleness when each process has its own cache)."""

from __future__ import annotations

import time

from apiauth.models import ApiToken
from core import generations

MAX_AGE = 1.0
MAX_ENTRIES = 10_000
_tokens: dict[str, tuple[ApiToken, int, float]] = {}


def token_get_active(key_hash: str) -> ApiToken | None:
    generation = generations.current(generations.TOKENS)
    now = time.monotonic()
    hit = _tokens.get(key_hash)
    if hit and hit[1] == generation and now - hit[2] < MAX_AGE:
        return hit[0]
    token = ApiToken.objects.filter(key_hash=key_hash, revoked_at__isnull=True).first()
    if token is None:  # unknown keys are not cached: guessing must not fill memory
        _tokens.pop(key_hash, None)
        return None
    if len(_tokens) >= MAX_ENTRIES:
        _tokens.clear()
    _tokens[key_hash] = (token, generation, now)
    return token


def forget_cached_tokens(key_hash: str | None = None) -> None:
    if key_hash is None:
        _tokens.clear()
    else:
        _tokens.pop(key_hash, None)
