"""Secrets a provider config may hold, and where they may come from. Pure functions over
JSON, shared by the registry (what it stores, shows and audits) and the providers (what they
send and what they redact from messages).

- `credentials.*Env` may name only environment variables whose name starts with
  `PROVIDER_ENV_PREFIX` (default `HOTCRM_PROVIDER_`): otherwise a registry writer could send
  `SECRET_KEY` or `DATABASE_URL` to an endpoint of their choice.
- An endpoint's user info, secret-looking query values and credential headers in
  `config.headers` are secrets too: never returned, never audited, redacted from messages.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings

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
    config = provider_config.get("config")
    if not isinstance(config, dict):
        config = {}
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


def restore_secrets(submitted: Any, stored: Any) -> tuple[Any, list[str]]:
    """A provider config edited from its public form (the admin shows only that): each ***
    put back to the stored secret it stands for, but only where the request still goes to the
    same place (same scheme, host and port), so that an edit cannot send a stored secret
    somewhere new. Returns the config and where a *** could not be put back."""
    if not isinstance(submitted, dict):
        return submitted, []
    stored = stored if isinstance(stored, dict) else {}
    stored_config = stored.get("config") if isinstance(stored.get("config"), dict) else {}
    out, missing = dict(submitted), []
    if isinstance(out.get("endpoint"), str):
        out["endpoint"], lost = _restore_url(out["endpoint"], stored.get("endpoint"))
        missing += ["endpoint"] if lost else []
    config = out.get("config")
    if isinstance(config, dict):
        config = dict(config)
        for key in URL_KEYS:
            if isinstance(config.get(key), str):
                config[key], lost = _restore_url(config[key], stored_config.get(key))
                missing += [f"config.{key}"] if lost else []
        headers = config.get("headers")
        if isinstance(headers, dict):
            same_place = _origin(out.get("endpoint")) == _origin(stored.get("endpoint"))
            stored_headers = stored_config.get("headers")
            if not isinstance(stored_headers, dict):
                stored_headers = {}
            restored = {}
            for name, value in headers.items():
                if value == REDACTED and secret_name(str(name)):
                    if same_place and name in stored_headers:
                        value = stored_headers[name]
                    else:
                        missing.append(f"config.headers.{name}")
                restored[name] = value
            config["headers"] = restored
        out["config"] = config
    return out, missing


def _origin(url: Any) -> tuple[str, str | None, int | None] | None:
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return None


def _restore_url(url: str, stored_url: Any) -> tuple[str, bool]:
    if REDACTED not in url:
        return url, False
    parts = urlsplit(url)
    same_place = _origin(url) is not None and _origin(url) == _origin(stored_url)
    stored_parts = urlsplit(stored_url) if same_place else None
    lost = False
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at and userinfo == REDACTED:
        if stored_parts is not None and "@" in stored_parts.netloc:
            netloc = stored_parts.netloc.rpartition("@")[0] + "@" + host
        else:
            lost = True
    stored_query = dict(parse_qsl(stored_parts.query, keep_blank_values=True)) if stored_parts else {}
    pairs = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if value == REDACTED and secret_name(key):
            if key in stored_query:
                value = stored_query[key]
            else:
                lost = True
        pairs.append((key, value))
    query = urlencode(pairs) if pairs else parts.query
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)), lost
