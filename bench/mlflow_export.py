"""Run inside bench/.mlflow-venv: save the fitted scikit-learn pipeline (pickled by run.py
from our own artifact) as an MLflow model answering predict_proba."""

from __future__ import annotations

import pickle
import sys

import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

source, target, columns = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
with open(source, "rb") as f:
    pipeline = pickle.load(f)  # written by bench/run.py a moment ago
example = pd.DataFrame(np.zeros((1, len(columns))), columns=columns)
mlflow.sklearn.save_model(
    pipeline, target, pyfunc_predict_fn="predict_proba",
    signature=infer_signature(example, pipeline.predict_proba(example.to_numpy())),
    serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE,
)
print(target)
