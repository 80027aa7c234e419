"""A model's provider credentials, decrypted only for the call that needs them. Each one may be
stored as a value (encrypted at rest) or as the name of an environment variable holding it
(`apiKeyEnv`, `accessKeyIdEnv`, `secretAccessKeyEnv`, `sessionTokenEnv`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from hotcrm_ai.errors import ProviderFailed
from registry.crypto import decrypt_credentials

if TYPE_CHECKING:
    from registry.models import MLModel

ENV_SUFFIX = "Env"


def credentials_for(model: MLModel) -> dict[str, str]:
    stored = decrypt_credentials(model.credentials_encrypted)
    resolved = {k: v for k, v in stored.items() if not k.endswith(ENV_SUFFIX)}
    for key, variable in stored.items():
        if not key.endswith(ENV_SUFFIX) or key[: -len(ENV_SUFFIX)] in resolved:
            continue
        value = os.environ.get(str(variable), "")
        if not value:
            # The variable's name is configuration, not a secret: saying which one is missing helps.
            raise ProviderFailed(
                f"Model '{model.pk}': the environment variable {variable!r} named by "
                f"credentials.{key} is not set.", extra={"reason": "misconfigured"},
            )
        resolved[key[: -len(ENV_SUFFIX)]] = value
    return resolved
