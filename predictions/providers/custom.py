"""`custom`: any HTTP JSON endpoint. Without a mapping it speaks KServe V1:
`POST {endpoint}` with `{"instances": [row, …]}`, answered by `{"predictions": […]}`.
With `config.protocol: "v2"` it speaks the Open Inference Protocol instead (`v2.py`).

Set `config.request.rowsKey` to null for an endpoint that takes one row per call (the rows
of a batch are then sent concurrently); see `mapping.py` for the rest of the mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml.base import Prediction
from predictions.providers import http, v2
from predictions.providers.external import (
    CallContext,
    ExternalProvider,
    auth_headers,
    model_endpoint,
)
from predictions.providers.mapping import (
    dig,
    example_row,
    predictions_list,
    request_config,
    response_config,
    row_payload,
    to_prediction,
)
from predictions.providers.resilience import malformed, model_config

if TYPE_CHECKING:
    from registry.models import MLModel


def is_v2(model: MLModel) -> bool:
    return model_config(model).get("protocol") == "v2"


def imported_feature_schema(model: MLModel) -> dict[str, Any]:
    """The featureSchema a V2 server states for the model (`GET /v2/models/{name}`)."""
    provider = CustomProvider()
    ctx = provider.context(model)
    return provider.call(ctx, lambda: v2.feature_schema(ctx))


class CustomProvider(ExternalProvider):
    name = "custom"

    def predict_batch(self, model: MLModel, rows: list[dict[str, Any]]) -> list[Prediction]:
        ctx = self.context(model)
        if is_v2(model):
            return self.call(ctx, lambda: v2.infer(ctx, rows))
        request = request_config(model)
        rows_key = request.get("rowsKey", "instances")
        if rows_key:
            return self.call(ctx, lambda: self._batch(ctx, rows, str(rows_key)))
        return self.each_row(ctx, rows, lambda row: self._one(ctx, row))

    def _batch(self, ctx: CallContext, rows: list[dict[str, Any]], rows_key: str) -> list[Prediction]:
        extra = request_config(ctx.model).get("extra") or {}
        body = {**extra, rows_key: [row_payload(ctx.model, r) for r in rows]}
        answer = http.json_body(self._post(ctx, body))
        return [to_prediction(ctx.model, item) for item in predictions_list(ctx.model, answer, len(rows))]

    def _one(self, ctx: CallContext, row: dict[str, Any]) -> Prediction:
        extra = request_config(ctx.model).get("extra") or {}
        payload = row_payload(ctx.model, row)
        body = {**extra, **payload} if isinstance(payload, dict) else payload
        answer = http.json_body(self._post(ctx, body))
        return to_prediction(ctx.model, dig(answer, response_config(ctx.model).get("predictionsPath", "")))

    def _post(self, ctx: CallContext, body: Any):
        method = str(model_config(ctx.model).get("method") or "POST").upper()
        return http.send(method, model_endpoint(ctx.model), policy=ctx.policy,
                         headers=auth_headers(ctx), body=body)

    def probe(self, ctx: CallContext) -> str:
        if is_v2(ctx.model):
            return self.probe_by_scoring(ctx, v2.ready(ctx))
        endpoint = model_endpoint(ctx.model)
        health_url = model_config(ctx.model).get("healthUrl")
        if not health_url and endpoint.endswith(":predict"):
            health_url = endpoint.removesuffix(":predict")  # KServe V1 model readiness
        readiness = ""
        if health_url:
            response = http.send("GET", str(health_url), policy=ctx.policy, headers=auth_headers(ctx))
            if http.says_not_ready(response):
                raise malformed("the model reports it is not ready")
            readiness = f"GET {health_url}: HTTP {response.status_code}"
        return self.probe_by_scoring(ctx, readiness)

    def score_example(self, ctx: CallContext) -> Prediction:
        row = example_row(ctx.model)
        if is_v2(ctx.model):
            return v2.infer(ctx, [row])[0]
        rows_key = request_config(ctx.model).get("rowsKey", "instances")
        return self._batch(ctx, [row], str(rows_key))[0] if rows_key else self._one(ctx, row)
