"""Product recommendation: item-item similarity and a segment prior, stacked by a logistic model.

Three signals, each learnt from the customer x product matrix of the training customers:
- item-item cosine similarity between products (scikit-learn `cosine_similarity` over the
  product columns): what customers with the same products also have;
- a popularity prior per industry x company-size band: how often such customers own each
  product (additively smoothed towards the overall share, so thin segments stay sensible);
- usage: the correlation of each activity's intensity (usage_patterns) with owning each
  product; an activity the request does not mention counts as average.
A logistic regression weighs them, fitted on "does this customer own product j, given
everything else about it" over every training customer and product (the pseudo-likelihood
of the basket), so a score is the model's probability that a customer like this one owns
the product. It recommends the five highest-scoring products the customer does not own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import cosine_similarity

from ml.base import Prediction, Predictor
from ml.builtin.synthetic import INDUSTRIES, Customer

TOP_K = 5
SIZE_BANDS = (10, 100, 1_000, 10_000)  # employees: <10, <100, <1,000, <10,000, larger
PRIOR_STRENGTH = 20.0  # pseudo-customers pulling a segment's shares towards the overall share
OTHER = INDUSTRIES.index("Other")
SIGNALS = ("similarity_mean", "similarity_max", "segment_prior_logit", "usage", "log1p_owned")


def size_band(company_size: int) -> int:
    return int(np.searchsorted(SIZE_BANDS, company_size, side="right"))


def usage_intensities(usage_patterns: dict[str, Any], keys: tuple[str, ...]) -> list[float | None]:
    """Each key's usage intensity 0-1, None where the pattern does not mention it.

    Values above 1 are read as counts and scaled by the largest one, so {"deals": 40,
    "dashboards": 10} means the same as {"deals": 1.0, "dashboards": 0.25}. Anything that
    is not a number (nested objects, text) is ignored.
    """
    numbers = {
        key: float(value) for key, value in usage_patterns.items()
        if isinstance(value, int | float) and math.isfinite(value)  # true counts as 1
    }
    largest = max(numbers.values(), default=0.0)
    scale = largest if largest > 1 else 1.0
    return [min(max(numbers[key] / scale, 0.0), 1.0) if key in numbers else None for key in keys]


@dataclass(eq=False)  # numpy fields: identity is the only sensible equality
class ProductRecommender(Predictor):
    products: tuple[str, ...]
    activities: tuple[str, ...]  # the usage_patterns keys the model learnt from
    similarity: np.ndarray  # products x products, zero diagonal
    prior_logit: np.ndarray  # industries x size bands x products
    usage_mean: np.ndarray  # per activity
    usage_weight: np.ndarray  # activities x products
    ranker: LogisticRegression
    popularity: np.ndarray  # overall share of customers owning each product

    model_type = "recommendation"

    def usage_signal(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """rows x products: how much each row's usage pattern points at each product.

        An activity the pattern leaves out counts as average. A key naming a product id
        ({"cpq": 0.9}) is a direct interest in it and weighs as much as the strongest
        activity-product association learnt.
        """
        keys = self.activities + self.products
        centre = [*self.usage_mean.tolist(), *[0.0] * len(self.products)]
        table = np.zeros((len(rows), len(keys)))
        for i, row in enumerate(rows):
            if row.get("usage_patterns"):
                given = usage_intensities(row["usage_patterns"], keys)
                table[i] = [0.0 if v is None else v - c for v, c in zip(given, centre, strict=True)]
        activities, direct = table[:, : len(self.activities)], table[:, len(self.activities) :]
        return activities @ self.usage_weight + float(self.usage_weight.max(initial=0.0)) * direct

    def signals(self, rows: list[dict[str, Any]], owned: np.ndarray, usage: np.ndarray) -> np.ndarray:
        """rows x products x SIGNALS, from what each row owns (0/1 matrix) and its usage signal."""
        count = owned.sum(axis=1, keepdims=True)
        similar = owned[:, None, :] * self.similarity[None, :, :]  # row, candidate, owned
        mean = similar.sum(axis=2) / np.maximum(count, 1)
        best = similar.max(axis=2)
        industry = [INDUSTRIES.index(r["industry"]) if r["industry"] in INDUSTRIES else OTHER for r in rows]
        band = [size_band(r["company_size"]) for r in rows]
        prior = self.prior_logit[industry, band]
        owned_count = np.broadcast_to(np.log1p(count), mean.shape)
        return np.stack([mean, best, prior, usage, owned_count], axis=2)

    def scores(self, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Each row's probability of owning each product, and its 0/1 owned matrix."""
        index = {p: j for j, p in enumerate(self.products)}
        owned = np.zeros((len(rows), len(self.products)))
        for i, row in enumerate(rows):
            for product in row["current_products"]:
                if product in index:  # ids the model does not know are ignored
                    owned[i, index[product]] = 1.0
        features = self.signals(rows, owned, self.usage_signal(rows)).reshape(-1, len(SIGNALS))
        coef = self.ranker.coef_[0]
        score = expit(features @ coef + self.ranker.intercept_[0]).reshape(owned.shape)
        return score, owned

    def recommend(self, rows: list[dict[str, Any]], k: int = TOP_K) -> list[list[tuple[str, float]]]:
        """The k best products each row does not own, with their scores, best first."""
        score, owned = self.scores(rows)
        order = np.argsort(np.where(owned > 0, np.inf, -score), axis=1, kind="stable")[:, :k]
        score_list, owned_list = score.tolist(), owned.tolist()
        return [
            [(self.products[j], score_list[i][j]) for j in picks if not owned_list[i][j]]
            for i, picks in enumerate(order.tolist())
        ]

    def predict_batch(self, rows: list[dict[str, Any]]) -> list[Prediction]:
        answers = []
        for items in self.recommend(rows):
            top = items[0][1] if items else 0.0
            answers.append(Prediction(
                value={"items": [{"id": p, "score": round(s, 4)} for p, s in items]},
                # the model's own probability that this customer would own its best pick
                confidence=round(100 * top, 2),
            ))
        return answers


def fit_recommender(customers: list[Customer], products: tuple[str, ...], activities: tuple[str, ...]) -> ProductRecommender:
    owned = np.array([[p in c.products for p in products] for c in customers], dtype=float)
    similarity = cosine_similarity(owned.T)
    np.fill_diagonal(similarity, 0.0)

    overall = (owned.sum(axis=0) + 1) / (len(owned) + 2)
    prior = np.zeros((len(INDUSTRIES), len(SIZE_BANDS) + 1, len(products)))
    industry = np.array([INDUSTRIES.index(c.industry) for c in customers])
    band = np.array([size_band(c.company_size) for c in customers])
    for i in range(len(INDUSTRIES)):
        for b in range(len(SIZE_BANDS) + 1):
            members = owned[(industry == i) & (band == b)]
            prior[i, b] = (members.sum(axis=0) + PRIOR_STRENGTH * overall) / (len(members) + PRIOR_STRENGTH)

    usage = np.array([[c.usage_patterns.get(a, 0.0) for a in activities] for c in customers])
    usage_mean = usage.mean(axis=0)
    # correlation of activity intensity with ownership; only "more use, more likely" counts
    centred_usage = (usage - usage_mean) / usage.std(axis=0)
    centred_owned = (owned - owned.mean(axis=0)) / owned.std(axis=0)
    usage_weight = np.clip(centred_usage.T @ centred_owned / len(owned), 0.0, None)

    model = ProductRecommender(
        products=products, activities=activities, similarity=similarity,
        prior_logit=logit(prior), usage_mean=usage_mean, usage_weight=usage_weight,
        ranker=LogisticRegression(), popularity=owned.mean(axis=0),
    )
    rows = [
        {"industry": c.industry, "company_size": c.company_size, "usage_patterns": c.usage_patterns}
        for c in customers
    ]
    # Leave-one-out: product j's signals come from the customer's other products only.
    n, m = owned.shape
    usage_signal = model.usage_signal(rows)
    features = np.empty((n, m, len(SIGNALS)))
    for j in range(m):
        others = owned.copy()
        others[:, j] = 0.0
        features[:, j, :] = model.signals(rows, others, usage_signal)[:, j, :]
    model.ranker.fit(features.reshape(-1, len(SIGNALS)), owned.reshape(-1))
    return model
