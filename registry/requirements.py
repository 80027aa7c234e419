"""What a registered provider model's calls will need: refused at registration (API and admin)
rather than answering 502 `misconfigured` forever."""

from __future__ import annotations

import os
from typing import Any

NEEDS_API_KEY = {"azure-ml", "openai", "anthropic"}


def provider_requirement_errors(provider: str, provider_config: Any, credentials: dict[str, Any]) -> list[str]:
    """What a call will need that is missing, so a model is refused at registration rather than
    answering 502 `misconfigured` forever. `credentials` are the ones that will be stored."""
    config = (provider_config or {}).get("config") if isinstance(provider_config, dict) else {}
    config = config if isinstance(config, dict) else {}
    problems = []
    if provider in NEEDS_API_KEY and not _has(credentials, "apiKey"):
        problems.append(f"providerConfig.credentials.apiKey (or apiKeyEnv) is required for {provider}.")
    if provider == "aws-sagemaker":
        if _has(credentials, "accessKeyId") != _has(credentials, "secretAccessKey"):
            problems.append("providerConfig.credentials.accessKeyId and secretAccessKey (or their *Env "
                            "names) go together: set both or neither.")
        if not (credentials.get("region") or config.get("region") or os.environ.get("AWS_REGION")
                or os.environ.get("AWS_DEFAULT_REGION")):
            problems.append("providerConfig.credentials.region (or config.region) is required for "
                            "aws-sagemaker.")
    return problems


def _has(credentials: dict[str, Any], key: str) -> bool:
    return bool(credentials.get(key) or credentials.get(f"{key}Env"))
