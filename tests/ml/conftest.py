from __future__ import annotations

import pytest

from ml.builtin.training import CATALOG, TrainingResult, train_builtin


@pytest.fixture(scope="session")
def trained() -> dict[str, TrainingResult]:
    """All six built-in models, trained once for the whole run (a few seconds)."""
    return {model_id: train_builtin(model_id) for model_id in CATALOG}
