"""The service speaking the Open Inference Protocol (KServe V2) itself, so that KServe's and
Triton's clients can call our models: a V2 request's columns become feature rows, scored by
`services.predict_batch` (validated, routed, cached and recorded like any batch), and the
answers go back as one output tensor per prediction field.

Scalar features are `[n, 1]` (or `[n]`) tensors of INT*/FP*/BOOL/BYTES; a list or object
feature (a forecast's revenue history) is a BYTES tensor of JSON text, one per row."""

from __future__ import annotations

import json
import math
from typing import Any

from hotcrm_ai.errors import InvalidInput
from predictions import services
from predictions.providers.v2 import DATATYPES
from registry.models import MLModel

JSON_TYPES = {"number_list", "string_list", "object"}
NUMERIC = {"FP16", "FP32", "FP64", "BF16", *{f"{s}INT{b}" for s in ("", "U") for b in (8, 16, 32, 64)}}
KNOWN = NUMERIC | {"BOOL", "BYTES"}


def metadata(model: MLModel) -> dict[str, Any]:
    inputs = [{"name": f["name"], "datatype": "BYTES" if f.get("type") in JSON_TYPES else DATATYPES.get(f["type"], "BYTES"),
               "shape": [-1, 1]} for f in (model.feature_schema or {}).get("features", [])]
    return {
        "name": model.pk, "versions": [model.version], "platform": f"hotcrm-{model.provider}",
        "inputs": inputs,
        "outputs": [{"name": "confidence", "datatype": "FP64", "shape": [-1, 1]},
                    {"name": "model_id", "datatype": "BYTES", "shape": [-1, 1]},
                    {"name": "prediction_id", "datatype": "BYTES", "shape": [-1, 1]}],
    }


def infer(model: MLModel, body: Any) -> dict[str, Any]:
    rows = request_rows(model, body)
    results = services.predict_batch(model_id=model.pk, rows=rows, use_cache=True)["results"]
    wanted = _wanted_outputs(body)
    outputs = [o for o in response_outputs(results) if wanted is None or o["name"] in wanted]
    answer = {"model_name": model.pk, "model_version": model.version, "outputs": outputs}
    if isinstance(body.get("id"), str):
        answer["id"] = body["id"][:200]
    return answer


def request_rows(model: MLModel, body: Any) -> list[dict[str, Any]]:
    """The request's columns as rows; every mistake is a 400 that names the input."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise InvalidInput("A V2 request needs a non-empty 'inputs' list.", code="invalid_v2_request")
    kinds = {f["name"]: f.get("type") for f in (model.feature_schema or {}).get("features", [])}
    columns: dict[str, list[Any]] = {}
    count = None
    for tensor in body["inputs"]:
        name, values = _column(tensor)
        if kinds and name not in kinds:
            raise InvalidInput(f"Input '{name}' is not a feature of '{model.pk}'.", code="unknown_feature",
                               extra={"feature": name})
        if name in columns:
            raise InvalidInput(f"Input '{name}' is given twice.", code="invalid_v2_request")
        if count is not None and len(values) != count:
            raise InvalidInput(f"Input '{name}' has {len(values)} rows, the others {count}.",
                               code="invalid_v2_request")
        count = len(values)
        if kinds.get(name) in JSON_TYPES:
            values = [_json_value(name, v) for v in values]
        columns[name] = values
    return [{name: values[i] for name, values in columns.items()} for i in range(count or 0)]


def _column(tensor: Any) -> tuple[str, list[Any]]:
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str) or not tensor["name"]:
        raise InvalidInput("Each input needs a 'name'.", code="invalid_v2_request")
    name = tensor["name"]
    shape, datatype, data = tensor.get("shape"), tensor.get("datatype"), tensor.get("data")
    if datatype not in KNOWN:
        raise InvalidInput(f"Input '{name}' has datatype {str(datatype)[:20]!r}; use one of "
                           f"{', '.join(sorted(KNOWN))}.", code="invalid_v2_request", extra={"feature": name})
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 2 or not all(_int(d) for d in shape)
            or shape[0] < 1 or (len(shape) == 2 and shape[1] != 1)):
        raise InvalidInput(f"Input '{name}' must have shape [n] or [n, 1] (one value per row).",
                           code="invalid_v2_request", extra={"feature": name})
    if not isinstance(data, list):
        raise InvalidInput(f"Input '{name}' needs a 'data' list.", code="invalid_v2_request", extra={"feature": name})
    values = [v for row in data for v in (row if isinstance(row, list) else [row])]
    if len(values) != shape[0]:
        raise InvalidInput(f"Input '{name}' holds {len(values)} values for shape {shape}.",
                           code="invalid_v2_request", extra={"feature": name})
    if datatype in NUMERIC and not all(_number(v) for v in values):
        raise InvalidInput(f"Input '{name}' ({datatype}) holds something other than finite numbers.",
                           code="invalid_v2_request", extra={"feature": name})
    if datatype == "BOOL" and not all(isinstance(v, bool) for v in values):
        raise InvalidInput(f"Input '{name}' (BOOL) holds something other than true/false.",
                           code="invalid_v2_request", extra={"feature": name})
    if datatype == "BYTES" and not all(isinstance(v, str) for v in values):
        raise InvalidInput(f"Input '{name}' (BYTES) holds something other than strings.",
                           code="invalid_v2_request", extra={"feature": name})
    if datatype == "BYTES" and not all(_clean_text(v) for v in values):
        raise InvalidInput(f"Input '{name}' holds a NUL character or a lone surrogate.",
                           code="invalid_v2_request", extra={"feature": name})
    return name, values


def _clean_text(text: str) -> bool:
    # NUL cannot be stored in PostgreSQL text; a lone surrogate cannot be encoded as UTF-8.
    return "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text)


def _json_value(name: str, text: str) -> Any:
    if not isinstance(text, str):
        raise InvalidInput(f"Input '{name}' takes JSON text (BYTES) per row.", code="invalid_v2_request",
                           extra={"feature": name})
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidInput(f"Input '{name}' holds text that is not JSON.", code="invalid_v2_request",
                           extra={"feature": name}) from None


def response_outputs(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One tensor per field of the predictions (numbers FP64, flags BOOL, text BYTES, anything
    nested as JSON text), then confidence, the answering model and the prediction id.
    `results` are PredictionResponse bodies."""
    n = len(results)
    values = [r["prediction"] if isinstance(r["prediction"], dict) else {"prediction": r["prediction"]}
              for r in results]
    names: dict[str, None] = {}
    for value in values:
        names.update(dict.fromkeys(value))
    outputs = [_tensor(name, [v.get(name) for v in values], n) for name in names]
    outputs.append(_tensor("confidence", [r["confidence"] for r in results], n))
    outputs.append(_tensor("model_id", [r["modelId"] for r in results], n))
    outputs.append(_tensor("prediction_id", [r["metadata"]["predictionId"] for r in results], n))
    return outputs


def _tensor(name: str, column: list[Any], n: int) -> dict[str, Any]:
    if all(_number(v) for v in column):
        datatype, data = "FP64", [float(v) for v in column]
    elif all(isinstance(v, bool) for v in column):
        datatype, data = "BOOL", column
    elif all(isinstance(v, str) for v in column):
        datatype, data = "BYTES", column
    else:  # nested, mixed or missing (null) values: JSON text, which can say all of them
        datatype, data = "BYTES", [json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in column]  # type: ignore[misc]
    return {"name": name, "datatype": datatype, "shape": [n, 1], "data": data}


def _wanted_outputs(body: dict[str, Any]) -> set[str] | None:
    outputs = body.get("outputs")
    if not isinstance(outputs, list) or not outputs:
        return None
    return {o["name"] for o in outputs if isinstance(o, dict) and isinstance(o.get("name"), str)}


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
