"""Helpers shared by the ml tests."""

from __future__ import annotations

from typing import Any

from ml.builtin.training import CATALOG
from ml.schema import parse_schema, validate_features

HOT_LEAD = {
    "company_size": 800, "industry": "Technology", "engagement_score": 92,
    "job_title": "VP of Sales", "budget": 250_000,
}
COLD_LEAD = {
    "company_size": 800, "industry": "Technology", "engagement_score": 8,
    "job_title": "Sales Intern", "budget": 0,
}
HAPPY_ACCOUNT = {
    "account_age": 36, "support_tickets": 0, "usage_frequency": 40, "nps_score": 60, "payment_delays": 0,
}

# Two valid requests per built-in model.
EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "lead-scoring-v1": [HOT_LEAD, COLD_LEAD],
    "lead-scoring-v2": [HOT_LEAD, COLD_LEAD],
    "churn-prediction-v1": [HAPPY_ACCOUNT, {**HAPPY_ACCOUNT, "payment_delays": 3}],
    "sentiment-analysis-v1": [{"text": "I love this product"}, {"text": "this is terrible, cancel my account"}],
    "revenue-forecast-v1": [{"historical_revenue": [10, 11, 12, 13], "pipeline_value": 40, "seasonality": 2, "growth_rate": 0.1}],
    "product-recommendation-v1": [{"current_products": ["crm-core"], "industry": "Finance", "company_size": 40}],
}


def clean(model_id: str, features: dict[str, Any]) -> dict[str, Any]:
    """Features as the service hands them to a predictor: validated against the schema."""
    return validate_features(parse_schema(CATALOG[model_id].feature_schema), features)
