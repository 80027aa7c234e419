"""The six built-in models: their catalogue entries, training on synthetic data, and
retraining of the lead and churn models from a user's CSV.

Every metric is measured on rows the model did not see while fitting: 20% of the rows (or
series, or customers) held out with a fixed seed. Training is deterministic: the same call
gives the same metrics and a predictor that gives the same answers.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from threadpoolctl import threadpool_limits

from ml.base import Predictor
from ml.builtin import synthetic
from ml.builtin.churn import fit_churn
from ml.builtin.forecast import HORIZONS, RevenueForecaster, fit_forecaster, samples_from_series
from ml.builtin.leads import fit_boosted, fit_logistic
from ml.builtin.recommendation import TOP_K, ProductRecommender, fit_recommender
from ml.builtin.sentiment import LABELLED_CSV, SentimentPredictor, load_labelled
from ml.builtin.tabular import BinaryClassifier, classification_metrics, stratified_split
from ml.schema import FeatureError, parse_schema, validate_features

Progress = Callable[[int, int, str], None]
Fit = Callable[[list[dict[str, Any]], np.ndarray], BinaryClassifier]
STEPS = 4
MIN_CSV_ROWS = 50
MIN_CSV_CLASS_ROWS = 5
MAX_CSV_ROWS = 1_000_000
HOLDOUT_SEED = 42


@dataclass
class TrainingResult:
    predictor: Predictor
    metrics: dict[str, float]
    feature_schema: dict[str, Any]
    training_rows: int
    description: str


@dataclass(frozen=True)
class BuiltinSpec:
    id: str
    name: str
    version: str
    type: str  # classification | nlp | forecasting | recommendation
    description: str
    feature_schema: dict[str, Any]
    train: Callable[[Progress | None], TrainingResult]


# --- feature schemas ------------------------------------------------------------------------

INDUSTRY_FEATURE = {
    "name": "industry", "type": "category", "label": "Industry",
    "categories": list(synthetic.INDUSTRIES), "otherCategory": "Other",
    "description": "Any other industry counts as Other.",
}
COMPANY_SIZE_FEATURE = {
    "name": "company_size", "type": "integer", "label": "Company Size", "min": 1, "max": 10_000_000,
    "description": "Employees.",
}
LEAD_SCHEMA = {"features": [
    COMPANY_SIZE_FEATURE,
    INDUSTRY_FEATURE,
    {"name": "engagement_score", "type": "number", "label": "Engagement Score", "min": 0, "max": 100},
    {"name": "job_title", "type": "string", "label": "Job Title", "maxLength": 200,
     "description": "Free text as the CRM holds it (\"VP of Sales\"); read as seniority."},
    {"name": "budget", "type": "number", "label": "Budget", "min": 0, "max": 1e10},
]}
CHURN_SCHEMA = {"features": [
    {"name": "account_age", "type": "integer", "label": "Account Age", "min": 0, "max": 600,
     "description": "Months since the account became a customer."},
    {"name": "support_tickets", "type": "integer", "label": "Support Tickets", "min": 0, "max": 10_000,
     "description": "Tickets opened in the last quarter."},
    {"name": "usage_frequency", "type": "number", "label": "Usage Frequency", "min": 0, "max": 10_000,
     "description": "Logins per month."},
    {"name": "nps_score", "type": "number", "label": "NPS Score", "min": -100, "max": 100},
    {"name": "payment_delays", "type": "integer", "label": "Payment Delays", "min": 0, "max": 1_000,
     "description": "Late payments in the last 12 months."},
]}
SENTIMENT_SCHEMA = {"features": [
    {"name": "text", "type": "text", "label": "Text", "maxLength": 10_000},
]}
FORECAST_SCHEMA = {"features": [
    {"name": "historical_revenue", "type": "number_list", "label": "Historical Revenue",
     "minItems": 4, "maxItems": 120, "min": 0,
     "description": "Quarterly revenue, oldest first; at least one quarter above zero."},
    {"name": "pipeline_value", "type": "number", "label": "Pipeline Value", "min": 0,
     "description": "Open pipeline for the coming quarters, in the same currency."},
    {"name": "seasonality", "type": "integer", "label": "Quarter", "min": 1, "max": 4,
     "description": "Calendar quarter (1-4) of the first forecast period."},
    {"name": "growth_rate", "type": "number", "label": "Growth Rate", "min": -1, "max": 5,
     "description": "Last year's revenue growth as a fraction (0.12 = 12%)."},
]}
RECOMMENDATION_SCHEMA = {"features": [
    {"name": "current_products", "type": "string_list", "label": "Current Products", "maxItems": 100,
     "description": "Product ids the account owns; unknown ids are ignored."},
    INDUSTRY_FEATURE,
    COMPANY_SIZE_FEATURE,
    {"name": "usage_patterns", "type": "object", "label": "Usage Patterns", "required": False,
     "default": {},
     "description": "Activity intensities, e.g. {\"deals\": 0.8, \"support_tickets\": 0.3}; "
                    "a product id as key marks interest in that product."},
]}


# --- synthetic training ---------------------------------------------------------------------


def _report(progress: Progress | None, step: int, message: str) -> None:
    if progress is not None:
        progress(step, STEPS, message)


def _describe(what: str, source: str, training_rows: int, held_out: int, unit: str = "rows") -> str:
    return (
        f"{what} {source}: fitted on {training_rows:,} {unit}, "
        f"metrics measured on {held_out:,} held-out {unit}."
    )


def _train_classifier(
    data: synthetic.Labelled,
    fit: Fit,
    schema: dict[str, Any],
    what: str,
    source: str,
    progress: Progress | None,
) -> TrainingResult:
    split = stratified_split(data.labels, seed=HOLDOUT_SEED)
    train_rows = [data.rows[i] for i in split.train]
    test_rows = [data.rows[i] for i in split.test]
    _report(progress, 2, "fitting")
    predictor = fit(train_rows, data.labels[split.train])
    _report(progress, 3, "measuring on held-out rows")
    probability = predictor.probability(predictor.encode(test_rows))
    metrics = classification_metrics(data.labels[split.test], probability)
    _report(progress, 4, "done")
    return TrainingResult(
        predictor=predictor, metrics=metrics, feature_schema=schema,
        training_rows=len(train_rows),
        description=_describe(what, source, len(train_rows), len(test_rows)),
    )


def train_lead_v1(progress: Progress | None = None) -> TrainingResult:
    _report(progress, 1, "generating synthetic leads")
    return _train_classifier(synthetic.leads(), fit_logistic, LEAD_SCHEMA, LEAD_V1_TEXT, SYNTHETIC_LEADS, progress)


def train_lead_v2(progress: Progress | None = None) -> TrainingResult:
    _report(progress, 1, "generating synthetic leads")
    return _train_classifier(synthetic.leads(), fit_boosted, LEAD_SCHEMA, LEAD_V2_TEXT, SYNTHETIC_LEADS, progress)


def train_churn(progress: Progress | None = None) -> TrainingResult:
    _report(progress, 1, "generating synthetic accounts")
    return _train_classifier(synthetic.churn(), fit_churn, CHURN_SCHEMA, CHURN_TEXT, SYNTHETIC_ACCOUNTS, progress)


def train_sentiment(progress: Progress | None = None) -> TrainingResult:
    _report(progress, 1, "loading the labelled sentences")
    labelled = load_labelled(LABELLED_CSV)
    predictor = SentimentPredictor()
    _report(progress, 2, "nothing to fit: VADER ships its lexicon")
    _report(progress, 3, "measuring on the labelled sentences")
    answers = predictor.predict_batch([{"text": text} for text, _ in labelled])
    truth = [label for _, label in labelled]
    predicted = [a.value["sentiment"] for a in answers]
    metrics = {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macroF1": round(float(f1_score(truth, predicted, average="macro")), 4),
        "labelledRows": len(labelled),
    }
    _report(progress, 4, "done")
    return TrainingResult(
        predictor=predictor, metrics=metrics, feature_schema=SENTIMENT_SCHEMA, training_rows=0,
        description=f"{SENTIMENT_TEXT} Measured on {len(labelled)} hand-labelled CRM sentences.",
    )


def forecast_metrics(
    forecaster: RevenueForecaster, samples: list[tuple[dict[str, Any], list[float]]]
) -> dict[str, float]:
    rows = [row for row, _ in samples]
    actual = np.array([future for _, future in samples])
    value, lower, upper = forecaster.forecast(rows)
    # the usual yardstick: the same quarter last year, grown by the stated growth
    naive = np.array([
        [row["historical_revenue"][k - 4] * (1 + row["growth_rate"]) for k in range(HORIZONS)]
        for row in rows
    ])
    error = np.abs(value - actual)
    return {
        "mae": round(float(error.mean()), 4),
        "mape": round(float(100 * (error / actual).mean()), 4),
        "intervalCoverage": round(float(((actual >= lower) & (actual <= upper)).mean()), 4),
        "seasonalNaiveMape": round(float(100 * (np.abs(naive - actual) / actual).mean()), 4),
        "heldOutRows": len(rows),
    }


def train_forecast(progress: Progress | None = None) -> TrainingResult:
    _report(progress, 1, "generating synthetic revenue series")
    series = synthetic.revenue_series()
    order = np.random.default_rng(HOLDOUT_SEED).permutation(len(series))
    cut = int(0.8 * len(series))
    train = samples_from_series([series[i] for i in order[:cut]], cuts=6, seed=1)
    test = samples_from_series([series[i] for i in order[cut:]], cuts=1, seed=2)
    _report(progress, 2, "fitting")
    forecaster = fit_forecaster(train)
    _report(progress, 3, "measuring on held-out series")
    metrics = forecast_metrics(forecaster, test)
    _report(progress, 4, "done")
    return TrainingResult(
        predictor=forecaster, metrics=metrics, feature_schema=FORECAST_SCHEMA,
        training_rows=len(train),
        description=_describe(FORECAST_TEXT, SYNTHETIC_SERIES, len(train), len(test), "forecasts"),
    )


def recommendation_metrics(
    model: ProductRecommender, customers: list[synthetic.Customer], seed: int
) -> dict[str, float]:
    """Hide 1 owned product (2 when a customer owns 4 or more) and look for it in the top 5."""
    rng = np.random.default_rng(seed)
    rows, hidden = [], []
    for customer in customers:
        if len(customer.products) < 2:
            continue
        hide = set(rng.choice(customer.products, 2 if len(customer.products) >= 4 else 1, replace=False))
        rows.append({
            "current_products": [p for p in customer.products if p not in hide],
            "industry": customer.industry, "company_size": customer.company_size,
            "usage_patterns": customer.usage_patterns,
        })
        hidden.append(hide)
    hits = [len(hide & {p for p, _ in items}) for hide, items in zip(hidden, model.recommend(rows), strict=True)]
    popularity = _popularity_hits(model, rows, hidden)
    return {
        "precisionAt5": round(float(np.mean([h / TOP_K for h in hits])), 4),
        "recallAt5": round(float(np.mean([h / len(s) for h, s in zip(hits, hidden, strict=True)])), 4),
        "popularityRecallAt5": round(float(np.mean([h / len(s) for h, s in zip(popularity, hidden, strict=True)])), 4),
        "heldOutRows": len(rows),
    }


def _popularity_hits(model: ProductRecommender, rows: list[dict[str, Any]], hidden: list[set[str]]) -> list[int]:
    """The baseline: the most popular products overall (by the similarity matrix's source)."""
    by_popularity = [model.products[j] for j in np.argsort(-model.popularity, kind="stable")]
    hits = []
    for row, hide in zip(rows, hidden, strict=True):
        picks = [p for p in by_popularity if p not in row["current_products"]][:TOP_K]
        hits.append(len(hide & set(picks)))
    return hits


def train_recommendation(progress: Progress | None = None) -> TrainingResult:
    _report(progress, 1, "generating synthetic baskets")
    customers = synthetic.baskets()
    order = np.random.default_rng(HOLDOUT_SEED).permutation(len(customers))
    cut = int(0.8 * len(customers))
    train = [customers[i] for i in order[:cut]]
    test = [customers[i] for i in order[cut:]]
    _report(progress, 2, "fitting")
    model = fit_recommender(train, synthetic.PRODUCT_IDS, tuple(synthetic.ACTIVITIES))
    _report(progress, 3, "measuring on held-out customers")
    metrics = recommendation_metrics(model, test, seed=HOLDOUT_SEED)
    _report(progress, 4, "done")
    return TrainingResult(
        predictor=model, metrics=metrics, feature_schema=RECOMMENDATION_SCHEMA,
        training_rows=len(train),
        description=_describe(
            RECOMMENDATION_TEXT, SYNTHETIC_BASKETS, len(train), int(metrics["heldOutRows"]), "customers"
        ),
    )


# --- catalogue -------------------------------------------------------------------------------

LEAD_V1_TEXT = (
    "Probability that a lead converts, as a 0-100 score (hot >= 70, warm >= 40, cold below). "
    "Logistic regression on standardised features: log company size, engagement, seniority "
    "read from the job title, log budget and industry."
)
LEAD_V2_TEXT = (
    "Challenger to lead-scoring-v1 with the same features and answer: histogram "
    "gradient-boosted trees, monotone in engagement, seniority and budget, that can learn the "
    "non-linear effects of company size and engagement."
)
CHURN_TEXT = (
    "Probability that an account churns (risk low < 0.3 <= medium < 0.6 <= high). Logistic "
    "regression on log tenure, support tickets, logins and late payments and the NPS score."
)
SENTIMENT_TEXT = (
    "Sentiment of a customer text (positive, neutral or negative, with VADER's compound score "
    "-1..1): the VADER lexicon-and-rules model, made for short informal text; not fitted here."
)
FORECAST_TEXT = (
    "Revenue of the next four quarters with 90% prediction intervals: one OLS model per horizon "
    "(statsmodels) on log revenue, from the same quarter last year, the recent trend, the stated "
    "growth, the pipeline and the quarter."
)
RECOMMENDATION_TEXT = (
    "Top five products an account does not own yet, scored 0-1: item-item cosine similarity "
    "and an industry x company-size popularity prior, with usage patterns, combined by a "
    "logistic model."
)
TEXTS = {
    "lead-scoring-v1": LEAD_V1_TEXT, "lead-scoring-v2": LEAD_V2_TEXT, "churn-prediction-v1": CHURN_TEXT,
}
SYNTHETIC_LEADS = "Trained on synthetic CRM leads"
SYNTHETIC_ACCOUNTS = "Trained on synthetic CRM accounts"
SYNTHETIC_SERIES = "Trained on synthetic quarterly revenue series"
SYNTHETIC_BASKETS = "Trained on synthetic product baskets"

CATALOG: dict[str, BuiltinSpec] = {
    spec.id: spec
    for spec in (
        BuiltinSpec("lead-scoring-v1", "Lead Scoring Model", "1.0.0", "classification",
                    f"{LEAD_V1_TEXT} {SYNTHETIC_LEADS}.", LEAD_SCHEMA, train_lead_v1),
        BuiltinSpec("lead-scoring-v2", "Lead Scoring Model (gradient boosting)", "2.0.0", "classification",
                    f"{LEAD_V2_TEXT} {SYNTHETIC_LEADS}.", LEAD_SCHEMA, train_lead_v2),
        BuiltinSpec("churn-prediction-v1", "Churn Prediction Model", "1.0.0", "classification",
                    f"{CHURN_TEXT} {SYNTHETIC_ACCOUNTS}.", CHURN_SCHEMA, train_churn),
        BuiltinSpec("sentiment-analysis-v1", "Sentiment Analysis", "1.0.0", "nlp",
                    SENTIMENT_TEXT, SENTIMENT_SCHEMA, train_sentiment),
        BuiltinSpec("revenue-forecast-v1", "Revenue Forecasting", "1.0.0", "forecasting",
                    f"{FORECAST_TEXT} {SYNTHETIC_SERIES}.", FORECAST_SCHEMA, train_forecast),
        BuiltinSpec("product-recommendation-v1", "Product Recommendation", "1.0.0", "recommendation",
                    f"{RECOMMENDATION_TEXT} {SYNTHETIC_BASKETS}.", RECOMMENDATION_SCHEMA,
                    train_recommendation),
    )
}


def train_builtin(model_id: str, progress: Progress | None = None) -> TrainingResult:
    """Train one built-in model on its synthetic data and measure it on held-out data."""
    if model_id not in CATALOG:
        raise ValueError(f"Unknown built-in model '{model_id}'; known: {', '.join(CATALOG)}.")
    with one_thread():
        return CATALOG[model_id].train(progress)


def one_thread() -> threadpool_limits:
    """Fit on one BLAS/OpenMP thread: these fits are small, and on a busy machine threads
    that spin-wait for each other made training several times slower, not faster."""
    return threadpool_limits(limits=1)


# --- CSV retraining ---------------------------------------------------------------------------

CSV_TRAINABLE: dict[str, tuple[Fit, str]] = {
    "lead-scoring-v1": (fit_logistic, "converted"),
    "lead-scoring-v2": (fit_boosted, "converted"),
    "churn-prediction-v1": (fit_churn, "churned"),
}
TRUE_WORDS = {"1", "true", "yes", "y", "1.0"}
FALSE_WORDS = {"0", "false", "no", "n", "0.0"}


def train_from_csv(model_id: str, path: str) -> TrainingResult:
    """Retrain a lead or churn model on a CSV: its features plus the label column.

    Every row is validated against the model's feature schema; 20% of the rows (stratified,
    fixed seed) are held out to measure the new model. Columns the model does not use are
    ignored, so a CRM export can be used as it is.
    """
    if model_id not in CSV_TRAINABLE:
        raise ValueError(
            f"CSV retraining is supported for lead and churn models only "
            f"({', '.join(CSV_TRAINABLE)}), not '{model_id}'."
        )
    spec = CATALOG[model_id]
    fit, label = CSV_TRAINABLE[model_id]
    rows, labels = read_labelled_csv(Path(path), spec.feature_schema, label)
    data = synthetic.Labelled(rows, labels)
    source = f"Retrained from {Path(path).name}"
    with one_thread():
        return _train_classifier(data, fit, spec.feature_schema, TEXTS[model_id], source, None)


def read_labelled_csv(path: Path, schema: dict[str, Any], label: str) -> tuple[list[dict[str, Any]], np.ndarray]:
    specs = parse_schema(schema)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
            wanted = [s.name for s in specs if s.required] + [label]
            missing = [name for name in wanted if name.lower() not in header]
            if missing:
                raise ValueError(f"The CSV is missing the column(s): {', '.join(missing)}.")
            rows: list[dict[str, Any]] = []
            labels: list[int] = []
            for record in reader:
                if len(rows) >= MAX_CSV_ROWS:
                    raise ValueError(f"The CSV has more than {MAX_CSV_ROWS:,} rows.")
                line = reader.line_num
                cells = {key: (record.get(column) or "").strip() for key, column in header.items()}
                rows.append(_csv_features(specs, cells, line))
                labels.append(_csv_label(cells[label.lower()], label, line))
    except UnicodeDecodeError as error:
        raise ValueError("The CSV is not UTF-8 text.") from error
    except csv.Error as error:
        raise ValueError(f"The CSV cannot be read: {error}.") from error
    _check_labels(np.array(labels, dtype=int), label)
    return rows, np.array(labels, dtype=int)


def _csv_features(specs: list[Any], cells: dict[str, str], line: int) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for spec in specs:
        raw = cells.get(spec.name.lower(), "")
        if raw == "":
            continue  # missing: the schema's default, or a missing-feature error below
        if spec.type in ("integer", "number"):
            try:
                number = float(raw)
            except ValueError:
                raise ValueError(f"Line {line}, column '{spec.name}': '{raw}' is not a number.") from None
            features[spec.name] = int(number) if spec.type == "integer" and number.is_integer() else number
        else:
            features[spec.name] = raw
    try:
        return validate_features(specs, features)
    except FeatureError as error:
        raise ValueError(f"Line {line}, column '{error.feature}': {error.message}") from None


def _csv_label(raw: str, label: str, line: int) -> int:
    word = raw.lower()
    if word in TRUE_WORDS:
        return 1
    if word in FALSE_WORDS:
        return 0
    raise ValueError(f"Line {line}, column '{label}': expected 0/1, true/false or yes/no, got '{raw}'.")


def _check_labels(labels: np.ndarray, label: str) -> None:
    if len(labels) < MIN_CSV_ROWS:
        raise ValueError(
            f"The CSV has {len(labels)} data rows; at least {MIN_CSV_ROWS} are needed to train and measure a model."
        )
    positives = int(labels.sum())
    if positives in (0, len(labels)):
        raise ValueError(f"Column '{label}' has a single class (all {labels[0]}); both outcomes are needed.")
    if min(positives, len(labels) - positives) < MIN_CSV_CLASS_ROWS:
        raise ValueError(f"Column '{label}' needs at least {MIN_CSV_CLASS_ROWS} rows of each outcome.")
