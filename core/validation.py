"""Checks of values that come from outside (request bodies, admin forms, provider answers)
before anything stores them: every string at any depth, keys included, must be storable text,
and every number finite. One function per question, so each entry point asks the same one.

Why by hand: a lone UTF-16 surrogate ("\\ud800", which JSON may spell) cannot be encoded as
UTF-8, so PostgreSQL, SQLite and Redis all refuse it; PostgreSQL refuses NUL in text and
jsonb too. No library checks both at any depth of a JSON value.
"""

from __future__ import annotations

import math
import re
from typing import Any

# A surrogate code point alone (Python strings keep them from "\ud800" escapes) or NUL.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_text(value: Any, path: str = "") -> str | None:
    """Where in `value` a string (or key) holds a NUL or a lone surrogate, e.g.
    `context.objectId`; None when every string can be stored. Iterative: depth costs no stack."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            if _UNSTORABLE.search(node):
                return where or "the value"
        elif isinstance(node, dict):
            for key, child in node.items():
                name = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and _UNSTORABLE.search(key):
                    return f"a key of {where or 'the object'}"
                stack.append((child, name))
        elif isinstance(node, list | tuple):
            stack.extend((child, f"{where}.{i}" if where else str(i)) for i, child in enumerate(node))
    return None


def non_finite_number(value: Any, path: str = "") -> str | None:
    """Where in `value` a number is NaN or infinite; None when every number is finite."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, float):
            if not math.isfinite(node):
                return where or "the value"
        elif isinstance(node, dict):
            stack.extend((child, f"{where}.{key}" if where else str(key)) for key, child in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((child, f"{where}.{i}" if where else str(i)) for i, child in enumerate(node))
    return None


def storable_text_error(value: Any, path: str = "") -> str | None:
    """A message for a client when `value` holds a string that cannot be stored, else None.
    The message names the place, never the offending text."""
    where = unstorable_text(value, path)
    if where is None:
        return None
    return f"{where} contains a NUL character or a lone surrogate (UTF-16), which cannot be stored."
