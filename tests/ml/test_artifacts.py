from __future__ import annotations

import pytest

from ml import artifacts
from ml.artifacts import ArtifactError
from tests.ml.support import EXAMPLES, clean

KEY = b"k" * 32


@pytest.mark.parametrize("model_id", list(EXAMPLES))
def test_it_round_trips_every_built_in_model(trained, model_id):
    predictor = trained[model_id].predictor
    loaded = artifacts.loads(artifacts.dumps(predictor, KEY), KEY)
    rows = [clean(model_id, example) for example in EXAMPLES[model_id]]
    assert type(loaded) is type(predictor)
    assert loaded.predict_batch(rows) == predictor.predict_batch(rows)


def test_it_refuses_a_tampered_artifact(trained):
    blob = bytearray(artifacts.dumps(trained["lead-scoring-v1"].predictor, KEY))
    blob[len(blob) // 2] ^= 0x01
    with pytest.raises(ArtifactError, match="signature"):
        artifacts.loads(bytes(blob), KEY)


def test_it_refuses_an_artifact_signed_with_another_key(trained):
    blob = artifacts.dumps(trained["churn-prediction-v1"].predictor, KEY)
    with pytest.raises(ArtifactError):
        artifacts.loads(blob, b"another key")


@pytest.mark.parametrize("blob", [b"", b"HCAI1", b"not an artifact at all, just bytes" * 3])
def test_it_refuses_what_is_not_an_artifact(blob):
    with pytest.raises(ArtifactError):
        artifacts.loads(blob, KEY)


def test_it_refuses_a_signed_object_that_is_not_a_predictor():
    with pytest.raises(ArtifactError, match="not a Predictor"):
        artifacts.loads(artifacts.dumps({"a": 1}, KEY), KEY)  # type: ignore[arg-type]


def test_it_needs_a_key(trained):
    with pytest.raises(ArtifactError):
        artifacts.dumps(trained["churn-prediction-v1"].predictor, b"")


def test_it_keeps_artifacts_small(trained):
    sizes = {model_id: len(artifacts.dumps(result.predictor, KEY)) for model_id, result in trained.items()}
    assert max(sizes.values()) < 2_000_000, sizes
