"""The Open Inference Protocol (KServe V2; Triton, MLServer, KServe runtimes) for `custom`
models with `config.protocol: "v2"`. `providerConfig.endpoint` is the server's base URL.

- `POST {endpoint}/v2/models/{name}[/versions/{modelVersion}]/infer`, `name` =
  `config.modelName` (default the registry id): one column per feature,
  `{name, shape: [n, 1], datatype, data}`, in one request for the whole batch. `config.outputs`
  (names) asks for those outputs; `config.parameters` is sent as the request's `parameters`
  (default `{"content_type": "pd"}` for more than one input: MLServer's runtimes then see one
  table, as the model was trained on; set `{}` for Triton).
- The answer is read from `outputs` (`config.output`, default the first), reshaped by its
  `shape`: one value per row is the prediction; a row of several numbers is a probability
  vector, giving the class (`config.response.labels`, default the column index), the
  probabilities and the confidence (the largest).
- Readiness: `GET .../ready`; the feature schema can be imported from `GET /v2/models/{name}`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ml.base import Prediction
from predictions.providers import http
from predictions.providers.external import CallContext, auth_headers, model_endpoint
from predictions.providers.mapping import response_config, to_prediction
from predictions.providers.resilience import malformed, misconfigured, model_config

if TYPE_CHECKING:
    from registry.models import MLModel

DATATYPES = {"integer": "INT64", "number": "FP64", "boolean": "BOOL", "category": "BYTES",
             "string": "BYTES", "text": "BYTES"}
SCHEMA_TYPES = {"BOOL": "boolean", "BYTES": "string", "FP16": "number", "FP32": "number", "FP64": "number",
                "BF16": "number", **{f"{s}INT{b}": "integer" for s in ("", "U") for b in (8, 16, 32, 64)}}


def model_url(model: MLModel, suffix: str = "") -> str:
    c = model_config(model)
    name = quote(str(c.get("modelName") or model.pk), safe="")
    url = f"{model_endpoint(model).rstrip('/')}/v2/models/{name}"
    if c.get("modelVersion"):
        url += f"/versions/{quote(str(c['modelVersion']), safe='')}"
    return url + suffix


def infer(ctx: CallContext, rows: list[dict[str, Any]]) -> list[Prediction]:
    body = request_body(ctx.model, rows)
    answer = http.json_body(http.send("POST", model_url(ctx.model, "/infer"), policy=ctx.policy,
                                      headers=auth_headers(ctx), body=body))
    return predictions(ctx.model, answer, len(rows))


def request_body(model: MLModel, rows: list[dict[str, Any]]) -> dict[str, Any]:
    specs = (model.feature_schema or {}).get("features") or []
    if not specs:
        raise misconfigured("the V2 protocol sends one typed column per feature: the model needs a featureSchema "
                            f"(import the server's: POST /api/v1/models/{model.pk}/import-schema/)")
    inputs = []
    for spec in specs:
        datatype = DATATYPES.get(spec.get("type"))
        if datatype is None:
            raise misconfigured(f"feature '{spec['name']}' ({spec.get('type')}) has no V2 tensor type")
        inputs.append({"name": spec["name"], "shape": [len(rows), 1], "datatype": datatype,
                       "data": [row.get(spec["name"]) for row in rows]})
    c = model_config(model)
    body: dict[str, Any] = {"inputs": inputs}
    parameters = c.get("parameters", {"content_type": "pd"} if len(inputs) > 1 else None)
    if parameters:
        body["parameters"] = parameters
    if isinstance(c.get("outputs"), list) and c["outputs"]:
        body["outputs"] = [{"name": str(name)} for name in c["outputs"]]
    return body


def predictions(model: MLModel, answer: Any, count: int) -> list[Prediction]:
    output = _output(model, answer)
    data, shape = output.get("data"), output.get("shape")
    if not isinstance(data, list) or not isinstance(shape, list) or not all(isinstance(d, int) for d in shape):
        raise malformed(f"output '{output.get('name')}' has no data or shape")
    data = _flat(data)
    width = math.prod(shape[1:]) if len(shape) > 1 else 1
    if not shape or shape[0] != count or len(data) != count * width:
        raise malformed(f"output '{output.get('name')}' has shape {shape} for {count} rows")
    if width == 1:
        return [to_prediction(model, item) for item in data]
    return [_distribution(model, data[i * width : (i + 1) * width]) for i in range(count)]


def _output(model: MLModel, answer: Any) -> dict[str, Any]:
    outputs = answer.get("outputs") if isinstance(answer, dict) else None
    if not isinstance(outputs, list) or not outputs or not all(isinstance(o, dict) for o in outputs):
        raise malformed("no 'outputs'")
    wanted = model_config(model).get("output")
    if not wanted:
        return outputs[0]
    for output in outputs:
        if output.get("name") == wanted:
            return output
    raise malformed(f"no output named '{wanted}'")


def _flat(data: list[Any]) -> list[Any]:
    """V2 allows the data flattened (row-major) or nested by shape."""
    flat: list[Any] = []
    for item in data:
        flat.extend(_flat(item) if isinstance(item, list) else [item])
    return flat


def _distribution(model: MLModel, row: list[Any]) -> Prediction:
    """A row of class probabilities: the most probable class, all of them, and the largest
    as the confidence."""
    if not all(isinstance(p, int | float) and not isinstance(p, bool) and math.isfinite(p) for p in row):
        raise malformed("a probability row holds something other than finite numbers")
    labels = response_config(model).get("labels")
    if not (isinstance(labels, list) and len(labels) == len(row)):
        labels = [str(i) for i in range(len(row))]
    best = max(range(len(row)), key=lambda i: row[i])
    value = {"class": labels[best], "probabilities": dict(zip(map(str, labels), row, strict=True))}
    confidence = row[best] if 0 <= row[best] <= 1 else None
    return Prediction(value, None if confidence is None else round(confidence * 100, 4))


def ready(ctx: CallContext) -> str:
    url = model_url(ctx.model, "/ready")
    response = http.send("GET", url, policy=ctx.policy, headers=auth_headers(ctx))
    if http.says_not_ready(response):
        raise malformed("the model reports it is not ready")
    return f"GET {url}: HTTP {response.status_code}"


def feature_schema(ctx: CallContext) -> dict[str, Any]:
    """The model's inputs from its V2 metadata as a featureSchema (every feature required)."""
    metadata = http.json_body(http.send("GET", model_url(ctx.model), policy=ctx.policy, headers=auth_headers(ctx)))
    inputs = metadata.get("inputs") if isinstance(metadata, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise malformed("the model's metadata lists no inputs")
    features = []
    for tensor in inputs:
        name = tensor.get("name") if isinstance(tensor, dict) else None
        kind = SCHEMA_TYPES.get(str(tensor.get("datatype"))) if isinstance(tensor, dict) else None
        if not isinstance(name, str) or not name or kind is None:
            raise malformed(f"input {str(tensor)[:80]} has no name or a datatype without a feature type")
        features.append({"name": name[:100], "type": kind})
    return {"features": features}
