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
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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


# --- secrets outside `credentials` ---------------------------------------------------------
# An endpoint's user info and secret-looking query values (`?code=…`, `?api_key=…`) and
# credential headers in `config.headers` are secrets too: never returned, never audited.
URL_KEYS = ("healthUrl", "controlEndpoint")
REDACTED = "***"


def secret_name(name: str) -> bool:
    """Query keys and headers that carry credentials by convention."""
    lowered = name.lower().replace("-", "_")
    return lowered in {"authorization", "cookie", "code", "sig", "signature"} or any(
        word in lowered for word in ("key", "token", "secret", "auth", "password", "credential"))


def config_secrets(provider_config: Any) -> list[str]:
    """Every secret value a provider config holds outside `credentials`."""
    if not isinstance(provider_config, dict):
        return []
    config = provider_config.get("config") if isinstance(provider_config.get("config"), dict) else {}
    found: list[str] = []
    for url in (provider_config.get("endpoint"), *(config.get(k) for k in URL_KEYS)):
        if isinstance(url, str):
            found += _url_secrets(url)
    headers = config.get("headers")
    if isinstance(headers, dict):
        found += [str(v) for k, v in headers.items() if secret_name(str(k)) and v]
    return found


def public_provider_config(provider_config: Any) -> dict[str, Any]:
    """The provider config as it may be shown or audited: every secret replaced by ***."""
    if not isinstance(provider_config, dict):
        return {}
    out = dict(provider_config)
    if isinstance(out.get("endpoint"), str):
        out["endpoint"] = redacted_url(out["endpoint"])
    config = out.get("config")
    if isinstance(config, dict):
        config = dict(config)
        for key in URL_KEYS:
            if isinstance(config.get(key), str):
                config[key] = redacted_url(config[key])
        if isinstance(config.get("headers"), dict):
            config["headers"] = {k: REDACTED if secret_name(str(k)) else v
                                 for k, v in config["headers"].items()}
        out["config"] = config
    return out


def redacted_url(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if "@" in parts.netloc:
        netloc = f"{REDACTED}@{netloc}"
    query = urlencode([(k, REDACTED if secret_name(k) else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _url_secrets(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [s for s in (parts.username, parts.password) if s]
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if secret_name(k) and v]
    # Also as they are spelled in the URL itself (percent-encoded), where a message quotes it.
    found += [v for k, v in (p.partition("=")[::2] for p in parts.query.split("&")) if secret_name(k) and v]
    return found
