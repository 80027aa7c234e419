from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings


@pytest.fixture
def builtin_fixture(db) -> Path:
    """The trained built-in models as a fixture file (written by the root conftest)."""
    from conftest import _builtin_fixture_path

    path = _builtin_fixture_path()
    assert path.exists()
    return path


@pytest.fixture
def secret_key() -> str:
    # The built-in artifacts are encrypted with a key derived from this one.
    return settings.SECRET_KEY
