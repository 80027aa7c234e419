from __future__ import annotations

from typing import Any

from django.db import transaction

from apiauth.models import ApiToken
from apiauth.selectors import forget_cached_tokens
from core import generations


def token_changed(sender: type[ApiToken], instance: ApiToken, **kwargs: Any) -> None:
    forget_cached_tokens(instance.key_hash)  # this process: at once, even before commit
    transaction.on_commit(lambda: generations.bump(generations.TOKENS))  # every process
