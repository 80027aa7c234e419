"""A model's provider credentials, decrypted only for the call that needs them. Each one may be
stored as a value (encrypted at rest) or as the name of an environment variable holding it
(`apiKeyEnv`, `accessKeyIdEnv`, `secretAccessKeyEnv`, `sessionTokenEnv`), one whose name has
the configured prefix (core/secrets.py). No message says whether a variable exists."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from core.secrets import ENV_SUFFIX, env_name_allowed, env_prefix
from hotcrm_ai.errors import ProviderFailed
from registry.crypto import decrypt_credentials

if TYPE_CHECKING:
    from registry.models import MLModel


def credentials_for(model: MLModel) -> dict[str, str]:
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
