"""What a query may name: its sources and their fields (each with its type and ORM path),
the operators, aggregations and time buckets, and the limits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hotcrm_ai.errors import ApplicationError

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_FILTERS = 20
MAX_IN_VALUES = 50
MAX_STRING = 200

OPS = ("=", "!=", ">", ">=", "<", "<=", "in", "not in", "contains", "startswith")
ORDERED_OPS = {">", ">=", "<", "<="}
TEXT_OPS = {"contains", "startswith"}
AGG_FNS = ("count", "countDistinct", "sum", "avg", "min", "max", "percentile", "rate")
NUMERIC_FNS = {"sum", "avg", "min", "max", "percentile"}
TIME_BUCKETS = ("hour", "day", "week", "month")
UNITS = {"hours": 1 / 24, "days": 1, "weeks": 7}
PERIODS = (
    "today", "yesterday", "this_week", "this_month", "this_quarter", "this_year",
    "last_week", "last_month", "last_quarter", "last_year",
)
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,40}$")


# Questions may ask about instants in these years, no further.
FIRST_YEAR, LAST_YEAR = 1900, 2100


class QueryInvalid(ApplicationError):
    """The question (or the LLM's translation of it) is not a query we can run."""

    status = 422
    code = "question_not_understood"


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # string | number | boolean | datetime
    column: str  # model field, or the JSON field holding `json_key`
    description: str
    json_key: str | None = None  # a number inside a JSON column
    requires_key: str | None = None  # only rows whose `prediction` has this key


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    model_path: str  # "app.Model", imported lazily
    time_field: str
    fields: dict[str, Field] = field(default_factory=dict)

    @property
    def model(self):
        from django.apps import apps

        return apps.get_model(self.model_path)

    def dimensions(self) -> list[str]:
        return [*self.fields, *TIME_BUCKETS]


def _fields(*items: Field) -> dict[str, Field]:
    return {f.name: f for f in items}


SOURCES: dict[str, Source] = {
    "predictions": Source(
        "predictions",
        "The prediction log: one row per answered prediction, with its context.",
        "predictions.PredictionLog", "createdAt",
        _fields(
            Field("predictionId", "string", "id", "Id of the prediction."),
            Field("modelId", "string", "model_id", "Model that answered, e.g. lead-scoring-v1."),
            Field("modelVersion", "string", "model_version", "Version of the model that answered."),
            Field("requestedModelId", "string", "requested_model_id", "Model the caller asked for."),
            Field("abArm", "string", "ab_arm", "A/B arm that answered: champion, challenger or empty."),
            Field("provider", "string", "provider", "Provider: local, openai, aws-sagemaker, azure-ml, custom."),
            Field("label", "string", "label", "The predicted class, risk or sentiment label."),
            Field("class", "string", "label", "Lead class: hot, warm, cold (lead models only).", requires_key="class"),
            Field("risk", "string", "label", "Churn risk: low, medium, high (churn models only).", requires_key="risk"),
            Field("sentiment", "string", "label", "Sentiment: positive, neutral, negative.", requires_key="sentiment"),
            Field("confidence", "number", "confidence", "Confidence 0-100."),
            Field("score", "number", "prediction", "Lead score 0-100 (lead models only).",
                  json_key="score", requires_key="class"),
            Field("probability", "number", "prediction", "Churn probability 0-1 (churn models only).",
                  json_key="probability", requires_key="risk"),
            Field("cached", "boolean", "cached", "Answered from the cache."),
            Field("shadow", "boolean", "shadow",
                  "A shadow run of an A/B challenger (not answered to the caller); these rows are "
                  "left out unless a filter on shadow asks for them."),
            Field("userId", "string", "user_id", "CRM user in the request context."),
            Field("objectType", "string", "object_type", "CRM object type in the context, e.g. lead, account."),
            Field("objectId", "string", "object_id", "CRM object id in the context."),
            Field("createdAt", "datetime", "created_at", "When the prediction was made."),
        ),
    ),
    "metrics": Source(
        "metrics",
        "Monitoring metrics: per request, one row per model, arm and kind of answer (cached or not, "
        "failed) with its number of predictions in rows; a bulk job adds one row per chunk.",
        "monitoring.Metric", "timestamp",
        _fields(
            Field("modelId", "string", "model_id", "Model that served the request."),
            Field("modelVersion", "string", "model_version", "Version of that model."),
            Field("timestamp", "datetime", "timestamp", "When the request was served."),
            Field("latency", "number", "latency_ms",
                  "Latency of the request in milliseconds (of a job chunk: per row); only rows with "
                  "timed true are one per request."),
            Field("rows", "number", "rows", "Predictions this row stands for: sum it to count predictions."),
            Field("timed", "boolean", "timed", "Carries its request's latency (one row per request and model)."),
            Field("confidence", "number", "confidence", "Confidence 0-100."),
            Field("cached", "boolean", "cached", "Answered from the cache."),
            Field("success", "boolean", "success", "The request succeeded."),
            Field("errorCode", "string", "error_code", "Error code of a failure."),
            Field("provider", "string", "provider", "Provider of the model."),
            Field("abArm", "string", "ab_arm", "A/B arm: champion, challenger, shadow (a challenger's shadow "
                  "run, not served) or empty."),
            Field("kind", "string", "kind", "prediction or explanation."),
        ),
    ),
    "models": Source(
        "models",
        "The model registry: one row per registered model (never its credentials).",
        "registry.MLModel", "createdAt",
        _fields(
            Field("modelId", "string", "id", "Model id."),
            Field("name", "string", "name", "Model name."),
            Field("version", "string", "version", "Model version."),
            Field("type", "string", "type", "classification, regression, nlp, forecasting, recommendation."),
            Field("provider", "string", "provider", "local, openai, aws-sagemaker, azure-ml, custom."),
            Field("status", "string", "status", "active, inactive, testing, deprecated, training."),
            Field("abEnabled", "boolean", "ab_enabled", "An A/B test is enabled."),
            Field("trafficPercentage", "number", "ab_traffic_percentage", "A/B traffic to the model, %."),
            Field("championModelId", "string", "ab_champion_id", "Champion of its A/B test."),
            Field("cacheTtl", "number", "cache_ttl", "Cache TTL in seconds."),
            Field("accuracy", "number", "metrics", "Accuracy measured on held-out data.", json_key="accuracy"),
            Field("createdAt", "datetime", "created_at", "When it was registered."),
            Field("updatedAt", "datetime", "updated_at", "When it last changed."),
        ),
    ),
}
