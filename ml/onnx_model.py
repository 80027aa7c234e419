"""Bring your own model: an ONNX file a data scientist uploads for a `local` model, checked
once when it is uploaded (`inspect`, `check_inputs`) and served in process with onnxruntime.

ONNX is a protobuf graph of standard operators: loading it runs no code of the uploader's
(unlike a pickle, which is never accepted). The checks refuse what onnxruntime could be made
to do beyond computing: tensors stored outside the file, operators outside the standard
domains, and opsets newer than this onnx release knows.

Two input layouts are served:
- one input per feature, `[N, 1]` (skl2onnx's conversion of a DataFrame pipeline), matched by
  name to the `featureSchema`;
- one `[N, k]` numeric input, its columns the schema's features in order.
A classifier has a label output and a probability output (a `[N, classes]` tensor, or
skl2onnx's ZipMap sequence of maps); anything else is a regressor read from its first
numeric output.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from ml.base import Prediction, TabularPredictor, TabularSpace
from ml.schema import example_row

ALLOWED_DOMAINS = {"", "ai.onnx", "ai.onnx.ml"}
MIN_OPSET = 7
ELEMENT_KINDS = {1: "float", 11: "double", 7: "int64", 6: "int32", 8: "string", 9: "bool"}
NUMPY = {"float": np.float32, "double": np.float64, "int64": np.int64, "int32": np.int32, "bool": np.bool_}
SCHEMA_TYPES = {"float": "number", "double": "number", "int64": "integer", "int32": "integer",
                "string": "string", "bool": "boolean"}
# Which ONNX input kinds can take a value of a featureSchema type.
ACCEPTS = {
    "integer": {"float", "double", "int64", "int32"},
    "number": {"float", "double"},
    "boolean": {"bool", "float", "double", "int64", "int32"},
    "category": {"string"},
    "string": {"string"},
    "text": {"string"},
}
MAX_VOCABULARY = 1_000_000


class OnnxError(ValueError):
    """The upload is not a model this service will serve; the message says why."""


@dataclass
class Tensor:
    name: str
    kind: str  # float | double | int64 | int32 | string | bool | map (ZipMap) | other
    shape: list[int | None]


@dataclass
class Signature:
    """What a checked ONNX graph takes and gives."""

    inputs: list[Tensor]
    outputs: list[Tensor]
    opsets: dict[str, int]
    labels: list[str] = field(default_factory=list)
    probability_output: str | None = None
    label_output: str | None = None
    value_output: str | None = None

    @property
    def is_classifier(self) -> bool:
        return self.probability_output is not None

    @property
    def is_matrix(self) -> bool:
        only = self.inputs[0]
        return len(self.inputs) == 1 and len(only.shape) == 2 and only.shape[1] not in (None, 1)

    def describe(self) -> dict[str, Any]:
        return {
            "inputs": [{"name": t.name, "type": t.kind, "shape": t.shape} for t in self.inputs],
            "outputs": [{"name": t.name, "type": t.kind, "shape": t.shape} for t in self.outputs],
            "opsets": self.opsets, "kind": "classifier" if self.is_classifier else "regressor",
            "labels": self.labels,
        }


def inspect(data: bytes) -> Signature:
    """Parse and check an uploaded file; OnnxError says what is wrong with it."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError):
        raise OnnxError("The file is not an ONNX model (it does not parse as one).") from None
    graph = model.graph
    if not graph.node or not graph.input or not graph.output:
        raise OnnxError("The file is not an ONNX model (its graph has no nodes, inputs or outputs).")
    opsets = {o.domain: o.version for o in model.opset_import}
    _check_opsets(opsets, onnx.defs.onnx_opset_version())
    for tensor in graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise OnnxError(f"Tensor '{tensor.name}' is stored outside the file; upload a self-contained model.")
    if model.functions:
        raise OnnxError("Models that define their own functions are not served.")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise OnnxError(f"The ONNX checker refuses the model: {str(exc).splitlines()[0][:200]}") from None
    initializers = {t.name for t in graph.initializer}
    inputs = [_tensor(v) for v in graph.input if v.name not in initializers]
    signature = Signature(inputs, [_tensor(v) for v in graph.output], opsets, labels=_class_labels(graph))
    _check_inputs_layout(signature)
    _read_outputs(signature)
    return signature


def _check_opsets(opsets: dict[str, int], newest: int) -> None:
    for domain in opsets:
        if domain not in ALLOWED_DOMAINS:
            raise OnnxError(f"Operator domain '{domain}' is not served (only the standard ai.onnx and ai.onnx.ml).")
    version = opsets.get("", opsets.get("ai.onnx"))
    if version is None or not MIN_OPSET <= version <= newest:
        raise OnnxError(f"The model's opset {version} is outside {MIN_OPSET}..{newest}, the opsets served here.")


def _tensor(value: Any) -> Tensor:
    kind_of = value.type.WhichOneof("value")
    if kind_of == "tensor_type":
        t = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        return Tensor(value.name, ELEMENT_KINDS.get(t.elem_type, "other"), shape)
    if kind_of == "sequence_type" and value.type.sequence_type.elem_type.WhichOneof("value") == "map_type":
        return Tensor(value.name, "map", [None])
    return Tensor(value.name, "other", [])


def _class_labels(graph: Any) -> list[str]:
    """The classes, from the classifier node that names them (LinearClassifier, ZipMap, ...)."""
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name == "classlabels_strings" and attribute.strings:
                return [s.decode("utf-8", "replace") for s in attribute.strings]
            if attribute.name in ("classlabels_ints", "classlabels_int64s") and attribute.ints:
                return [str(i) for i in attribute.ints]
    return []


def _check_inputs_layout(signature: Signature) -> None:
    for t in signature.inputs:
        if t.kind not in NUMPY and t.kind != "string":
            raise OnnxError(f"Input '{t.name}' has an element type this service cannot feed ({t.kind}).")
        if not 1 <= len(t.shape) <= 2:
            raise OnnxError(f"Input '{t.name}' must be [N] or [N, features]; it is {t.shape}.")
    if len(signature.inputs) > 1 and any(len(t.shape) == 2 and t.shape[1] not in (None, 1) for t in signature.inputs):
        raise OnnxError("With several inputs each must hold one feature ([N, 1]).")
    if signature.is_matrix and signature.inputs[0].kind not in ("float", "double"):
        raise OnnxError("A single [N, k] input must be float or double.")


def _read_outputs(signature: Signature) -> None:
    """Find the probability, label or value output; a probability output makes a classifier."""
    for t in signature.outputs:
        if t.kind == "map" or (t.kind in ("float", "double") and len(t.shape) == 2 and t.shape[1] not in (None, 1)):
            signature.probability_output = signature.probability_output or t.name
        elif t.kind in ("string", "int64") and len(t.shape) == 1 and signature.label_output is None:
            signature.label_output = t.name
    if signature.probability_output is None:
        numeric = [t for t in signature.outputs if t.kind in ("float", "double")]
        if not numeric:
            raise OnnxError("The model has neither a probability output nor a numeric output to serve.")
        signature.value_output = numeric[0].name


def proposed_schema(signature: Signature) -> dict[str, Any]:
    """A featureSchema from the ONNX inputs, for a model registered without one."""
    if signature.is_matrix:
        width = signature.inputs[0].shape[1]
        assert width is not None  # a matrix input has a fixed width
        return {"features": [{"name": f"x{i}", "type": "number"} for i in range(width)]}
    return {"features": [{"name": t.name, "type": SCHEMA_TYPES[t.kind]} for t in signature.inputs]}


def check_inputs(signature: Signature, schema: dict[str, Any]) -> None:
    """The model's inputs against the registered featureSchema: same names, compatible types."""
    specs = schema.get("features") or []
    if signature.is_matrix:
        width = signature.inputs[0].shape[1]
        if width != len(specs) or any(s.get("type") not in ("integer", "number", "boolean") for s in specs):
            raise OnnxError(f"The model's input '{signature.inputs[0].name}' takes {width} numbers per row; "
                            f"the featureSchema has {len(specs)} features, which must all be numbers.")
        return
    by_name = {s["name"]: s for s in specs}
    names = [t.name for t in signature.inputs]
    missing = [n for n in names if n not in by_name]
    if missing:
        raise OnnxError(f"The model takes inputs the featureSchema does not have: {', '.join(missing)}.")
    unused = [n for n in by_name if n not in names]
    if unused:
        raise OnnxError(f"The featureSchema has features the model does not take: {', '.join(unused)}.")
    for t in signature.inputs:
        kind = by_name[t.name].get("type")
        if t.kind not in ACCEPTS.get(kind, set()):
            raise OnnxError(f"Input '{t.name}' is {t.kind}, which cannot take the schema's {kind} feature.")


class OnnxPredictor(TabularPredictor):
    """An uploaded ONNX model, run by onnxruntime: one `run` per batch. As a TabularPredictor it
    is explained by the same exact Shapley engine as the built-in models: `encode` maps rows to
    a numeric matrix (strings to ids in a vocabulary), `output` is the explained number."""

    model_type = "classification"

    def __init__(self, data: bytes, schema: dict[str, Any], config: dict[str, Any] | None = None) -> None:
        import onnxruntime

        self.signature = inspect(data)
        options = onnxruntime.SessionOptions()
        # One thread per call: the app servers already run one request per core.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
        self.specs = list(schema.get("features") or [])
        self.names = [s["name"] for s in self.specs]
        self.labels = self.signature.labels
        self.model_type = "classification" if self.signature.is_classifier else "regression"
        self.explained = self._explained_class((config or {}).get("explanationOutput"))
        self._vocabulary: dict[str, int] = {}
        self._words: list[str] = []
        self._lock = threading.Lock()
        self._background: np.ndarray | None = None

    # --- serving ----------------------------------------------------------------------------

    def predict_batch(self, rows: list[dict[str, Any]]) -> list[Prediction]:
        return self._answers(self._run(self._feeds_from_rows(rows)))

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
        wanted = [o for o in (self.signature.label_output, self.signature.probability_output,
                              self.signature.value_output) if o]
        return dict(zip(wanted, self.session.run(wanted, feeds), strict=True))

    def _probabilities(self, outputs: dict[str, Any]) -> np.ndarray:
        raw = outputs[cast(str, self.signature.probability_output)]
        if isinstance(raw, list):  # ZipMap: one {label: p} per row
            if not self.labels:
                self.labels = [str(k) for k in raw[0]] if raw else []
            return np.array([[row[_key(row, label)] for label in self.labels] for row in raw], dtype=float)
        matrix = np.asarray(raw, dtype=float)
        if not self.labels:
            self.labels = [str(i) for i in range(matrix.shape[1])]
        return matrix

    def _answers(self, outputs: dict[str, Any]) -> list[Prediction]:
        if not self.signature.is_classifier:
            values = np.asarray(outputs[cast(str, self.signature.value_output)], dtype=np.float64).reshape(len(self._first(outputs)), -1)[:, 0]
            return [Prediction({"value": _finite(v)}, None) for v in values]
        probabilities = self._probabilities(outputs)
        answers = []
        for row in probabilities:
            best = int(np.argmax(row))
            answers.append(Prediction(
                {"class": self.labels[best],
                 "probabilities": {label: round(_finite(p), 6) for label, p in zip(self.labels, row, strict=True)}},
                round(float(row[best]) * 100, 4),
            ))
        return answers

    def _first(self, outputs: dict[str, Any]) -> Any:
        return next(iter(outputs.values()))

    def _feeds_from_rows(self, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        if self.signature.is_matrix:
            t = self.signature.inputs[0]
            return {t.name: np.array([[float(r[n]) for n in self.names] for r in rows], dtype=NUMPY[t.kind])}
        return {t.name: _column(t, [r[t.name] for r in rows]) for t in self.signature.inputs}

    # --- explanations: the TabularPredictor contract ---------------------------------------------

    def space(self) -> TabularSpace:
        if self._background is None:
            # Without a configured background (providerConfig.config.explanationBackground) the
            # reference is the schema's example row: defaults, minimums, first categories.
            self._background = self.encode([example_row({"features": self.specs})])
        name = f"probability of {self.explained}" if self.signature.is_classifier else "value"
        return TabularSpace(self.names, {n: [i] for i, n in enumerate(self.names)}, self._background, name)

    def encode(self, rows: list[dict[str, Any]]) -> np.ndarray:
        matrix = np.empty((len(rows), len(self.names)), dtype=float)
        for j, spec in enumerate(self.specs):
            name = spec["name"]
            if spec.get("type") in ("category", "string", "text"):
                matrix[:, j] = [self._id(str(r[name])) for r in rows]
            else:
                matrix[:, j] = [float(r[name]) for r in rows]
        return matrix

    def output(self, matrix: np.ndarray) -> np.ndarray:
        outputs = self._run(self._feeds_from_matrix(matrix))
        if not self.signature.is_classifier:
            return np.asarray(outputs[cast(str, self.signature.value_output)], dtype=np.float64).reshape(len(matrix), -1)[:, 0]
        probabilities = self._probabilities(outputs)
        return probabilities[:, self.labels.index(self.explained)] if self.explained in self.labels else probabilities[:, -1]

    def decide(self, outputs: np.ndarray) -> list[Prediction]:
        if not self.signature.is_classifier:
            return [Prediction({"value": float(v)}, None) for v in outputs]
        return [Prediction({f"probability of {self.explained}": float(p)}, None) for p in outputs]

    def explained_predictions(self, rows: list[dict[str, Any]], outputs: np.ndarray) -> list[Prediction]:
        # The full answer (every class's probability), which one explained number cannot rebuild.
        return self.predict_batch(rows)

    def _feeds_from_matrix(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        if self.signature.is_matrix:
            t = self.signature.inputs[0]
            return {t.name: matrix.astype(NUMPY[t.kind])}
        feeds = {}
        index = {n: j for j, n in enumerate(self.names)}
        for t in self.signature.inputs:
            column = matrix[:, index[t.name]]
            values = [self._words[int(i)] for i in column] if t.kind == "string" else column.tolist()
            feeds[t.name] = _column(t, values)
        return feeds

    def _explained_class(self, path: Any) -> str:
        if isinstance(path, str) and path.startswith("probabilities."):
            return path.removeprefix("probabilities.")
        return self.labels[-1] if self.labels else "1"  # binary: the positive class

    def _id(self, word: str) -> int:
        found = self._vocabulary.get(word)
        if found is None:
            with self._lock:
                if len(self._words) >= MAX_VOCABULARY:  # bounded: ids of earlier explanations go
                    self._vocabulary.clear()
                    self._words.clear()
                    self._background = None
                found = self._vocabulary.setdefault(word, len(self._words))
                if found == len(self._words):
                    self._words.append(word)
        return found


def _column(t: Tensor, values: list[Any]) -> np.ndarray:
    if t.kind == "string":
        array = np.array([str(v) for v in values], dtype=object)
    elif t.kind == "bool":
        array = np.array([bool(v) for v in values], dtype=np.bool_)
    elif t.kind in ("int64", "int32"):
        array = np.array([round(float(v)) for v in values], dtype=NUMPY[t.kind])
    else:
        array = np.array([float(v) for v in values], dtype=NUMPY[t.kind])
    return array.reshape(-1, 1) if len(t.shape) == 2 else array


def _key(row: dict[Any, float], label: str) -> Any:
    return label if label in row else int(label)


def _finite(value: Any) -> float:
    number = float(value)
    if not np.isfinite(number):
        raise OnnxError("The model answered a number that is not finite.")
    return number
