"""A model's provider credentials, decrypted only for the call that needs them. Each one may be
stored as a value (encrypted at rest) or as the name of an environment variable holding it
(`apiKeyEnv`, `accessKeyIdEnv`, `secretAccessKeyEnv`, `sessionTokenEnv`).

Only variables whose name starts with `PROVIDER_ENV_PREFIX` (default `HOTCRM_PROVIDER_`) can
be named: otherwise a registry writer could send `SECRET_KEY` or `DATABASE_URL` to an endpoint
of their choice. No message says whether a variable exists."""

from __future__ import annotations

import os
import re
from typing import Any

from django.conf import settings

from hotcrm_ai.errors import ProviderFailed
from registry.crypto import decrypt_credentials

ENV_SUFFIX = "Env"
_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


def env_prefix() -> str:
    return settings.HOTCRM["PROVIDER_ENV_PREFIX"]


def env_name_allowed(name: Any) -> bool:
    prefix = env_prefix()
    return (isinstance(name, str) and bool(_NAME.fullmatch(name)) and name.startswith(prefix)
            and len(name) > len(prefix))


def credential_errors(credentials: dict[str, Any]) -> list[str]:
    """What is wrong with credentials about to be stored (the API and the admin ask this)."""
    return [
        f"credentials.{key} must name an environment variable starting with {env_prefix()} "
        "(capital letters, digits and underscores)."
        for key, value in sorted(credentials.items())
        if key.endswith(ENV_SUFFIX) and not env_name_allowed(value)
    ]


def credentials_for(model: Any) -> dict[str, str]:
    stored = decrypt_credentials(model.credentials_encrypted)
    resolved = {k: v for k, v in stored.items() if not k.endswith(ENV_SUFFIX)}
    for key, variable in stored.items():
        if not key.endswith(ENV_SUFFIX) or key[: -len(ENV_SUFFIX)] in resolved:
            continue
        # Checked again here: a row stored before the prefix rule (or a changed prefix).
        value = os.environ.get(variable, "") if env_name_allowed(variable) else ""
        if not value:
            # The same words whether the name is not allowed, unset or empty: an error must
            # not tell anyone which variables the server has.
            raise ProviderFailed(
                f"Model '{model.pk}': credentials.{key} does not name a usable environment "
                f"variable (set one starting with {env_prefix()}).", extra={"reason": "misconfigured"},
            )
        resolved[key[: -len(ENV_SUFFIX)]] = value
    return resolved
