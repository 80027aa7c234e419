"""Run by the MLServer venv's Python (never imported by the suite): fits a small scikit-learn
pipeline on deterministic deal data, saves it where MLServer's sklearn runtime loads it, and
prints the pipeline's own predict_proba for the rows given on argv, as JSON, to compare with."""

from __future__ import annotations

import json
import pathlib
import sys

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


def main(target: pathlib.Path, name: str, rows: list[dict]) -> None:
    rng = np.random.default_rng(7)
    amount = rng.uniform(0, 1000, 400)
    segment = rng.choice(["smb", "enterprise"], 400)
    won = amount / 1000 + (segment == "enterprise") * 0.3 + rng.normal(0, 0.15, 400) > 0.6
    frame = pd.DataFrame({"amount": amount, "segment": segment})
    pipeline = Pipeline([
        ("prep", ColumnTransformer([("segment", OneHotEncoder(), ["segment"])], remainder="passthrough")),
        ("model", LogisticRegression()),
    ]).fit(frame, np.where(won, "yes", "no"))
    folder = target / name
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, folder / "model.joblib")
    (folder / "model-settings.json").write_text(json.dumps({
        "name": name, "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "v1"},
        "inputs": [{"name": "amount", "datatype": "FP64", "shape": [-1, 1]},
                   {"name": "segment", "datatype": "BYTES", "shape": [-1, 1]}],
        "outputs": [{"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]}],
    }))
    proba = pipeline.predict_proba(pd.DataFrame(rows, columns=["amount", "segment"])) if rows else []
    print(json.dumps({"classes": [str(c) for c in pipeline.classes_], "proba": np.asarray(proba).tolist()}))


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]))
