"""`azure-ml`: an Azure Machine Learning online endpoint. HTTPS POST to the scoring URI
(`providerConfig.endpoint`) with `Authorization: Bearer <key>`; the whole batch in one call.

`config.requestFormat`:
- `input_data` (default; MLflow and managed online endpoints):
  `{"input_data": {"columns": [...], "index": [0, …], "data": [[…], …]}}`
- `data` (classic scoring scripts): `{"data": [row, …]}`, rows as objects, or as arrays with
  `config.request.rowFormat: "array"`.
`config.deployment` pins a deployment (`azureml-model-deployment` header). The answer is a bare
list of predictions, or `{"predictions": […]}`, or wherever `config.response.predictionsPath`
points."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml.base import Prediction
from predictions.providers import http
from predictions.providers.external import (
    CallContext,
    ExternalProvider,
    auth_headers,
    model_endpoint,
)
from predictions.providers.mapping import (
    column_names,
    example_row,
    predictions_list,
    row_payload,
    to_prediction,
)
from predictions.providers.resilience import malformed, misconfigured, model_config

if TYPE_CHECKING:
    from registry.models import MLModel

FORMATS = ("input_data", "data")


class AzureMLProvider(ExternalProvider):
    name = "azure-ml"

    def predict_batch(self, model: MLModel, rows: list[dict[str, Any]]) -> list[Prediction]:
        ctx = self.context(model)
        return self.call(ctx, lambda: self._score(ctx, rows))

    def _score(self, ctx: CallContext, rows: list[dict[str, Any]]) -> list[Prediction]:
        response = http.send("POST", model_endpoint(ctx.model), policy=ctx.policy,
                             headers=self._headers(ctx), body=self.body(ctx.model, rows))
        items = predictions_list(ctx.model, http.json_body(response), len(rows))
        return [to_prediction(ctx.model, item) for item in items]

    def body(self, model: MLModel, rows: list[dict[str, Any]]) -> dict[str, Any]:
        style = model_config(model).get("requestFormat", "input_data")
        if style == "input_data":
            columns = column_names(model, rows)
            return {"input_data": {"columns": columns, "index": list(range(len(rows))),
                                   "data": [[row.get(c) for c in columns] for row in rows]}}
        if style == "data":
            return {"data": [row_payload(model, row) for row in rows]}
        raise misconfigured(f"config.requestFormat must be one of {', '.join(FORMATS)}")

    def _headers(self, ctx: CallContext) -> dict[str, str]:
        if not ctx.credentials.get("apiKey"):
            raise misconfigured("credentials.apiKey (or apiKeyEnv) is required")
        headers = auth_headers(ctx)
        deployment = model_config(ctx.model).get("deployment")
        if deployment:
            headers["azureml-model-deployment"] = str(deployment)
        return headers

    def probe(self, ctx: CallContext) -> str:
        health_url = model_config(ctx.model).get("healthUrl")
        readiness = ""
        if health_url:
            response = http.send("GET", str(health_url), policy=ctx.policy, headers=self._headers(ctx))
            if http.says_not_ready(response):
                raise malformed("the model reports it is not ready")
            readiness = f"GET {health_url}: HTTP {response.status_code}"
        return self.probe_by_scoring(ctx, readiness)

    def score_example(self, ctx: CallContext) -> Prediction:
        return self._score(ctx, [example_row(ctx.model)])[0]
