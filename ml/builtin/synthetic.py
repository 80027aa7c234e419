"""Deterministic synthetic CRM data: the ground truth the built-in models are fitted to.

Every generator takes a size and a seed and draws from `numpy.random.default_rng(seed)`, so
the same call always returns the same data. The true relationships are written out below so
a reader can check what each model should have learnt (and the tests check that it did).

Leads (`leads`)
    industry ~ Categorical(INDUSTRY_SHARES); company_size = round(exp(N(4.5, 1.7))) clipped to
    1..500,000 employees; s = log1p(company_size).
    job_title ~ JOB_TITLES (a CRM-like mix of titles with a human-assigned seniority level
    0 intern/assistant .. 5 C-level/founder, some in abbreviated or odd casing).
    engagement_score = 100 * Beta(2, 2.5), one decimal.
    budget = 0 with probability 0.15 (no budget stated), else exp(N(7.5 + 0.5 s, 1.0))
    rounded to 100; b = log1p(budget).
    logit = -11.0 + 0.08 engagement + 0.75 level + 0.9 s - 0.065 s^2 + 0.27 b
            + INDUSTRY_EFFECT[industry] + 0.03 max(engagement - 50, 0) [level >= 3]
    converted ~ Bernoulli(sigmoid(logit)).
    Company size helps up to ~1,000 employees then hurts (s^2 term), and high engagement
    matters more for decision makers (the interaction): a linear model cannot express either,
    which is what the gradient-boosted challenger is for. The logit never falls as
    engagement, seniority or budget rise.

Churn (`churn`)
    A hidden dissatisfaction d ~ N(0, 1) drives the observed signals:
    account_age (months) = 1 + Gamma(1.5, 18) clipped to 1..240, integer;
    support_tickets (last quarter) ~ Poisson(exp(0.7 + 0.5 d));
    usage_frequency (logins/month) = Gamma(2, exp(2.8 - 0.4 d) / 2), one decimal;
    nps_score = N(30 - 25 d, 30) rounded and clipped to -100..100;
    payment_delays (last 12 months) ~ Poisson(exp(-1.0 + 0.4 d)).
    logit = 1.7 + 0.9 log1p(tickets) - 1.05 log1p(usage) - 0.02 nps + 1.2 log1p(delays)
            - 0.5 log1p(account_age) + 0.75 d
    churned ~ Bernoulli(sigmoid(logit)). More tickets and delays, less usage, lower NPS and
    younger accounts raise churn; d also acts directly, unobserved, as real churn does.

Revenue (`revenue_series`)
    Quarterly. Per series: drift g ~ N(0.015, 0.025) per quarter, shock scale
    sigma ~ U(0.02, 0.06), seasonal amplitude a ~ U(0.5, 1.5), pipeline coverage
    c ~ U(2.5, 3.5), start quarter ~ U{1..4}, level l_0 ~ N(log 250,000, 1).
    l_t = l_{t-1} + g + N(0, sigma)          (random walk with drift)
    revenue_t = exp(l_t + a * SEASONAL_LOG[quarter_t] + N(0, 0.03))
    pipeline_t (open pipeline at the end of quarter t, for the quarters ahead)
              = c * exp(l_{t+1} + a * SEASONAL_LOG[quarter_{t+1}]) * exp(N(0, 0.10))
    growth_rate (the stated annual growth) = exp(4 g) - 1 + N(0, 0.04).
    The pipeline foresees next quarter's shock, which is why it is worth a feature.

Baskets (`baskets`)
    Seven latent needs (THEMES). A customer's need t ~ N(INDUSTRY_THEMES[industry][t]
    + SIZE_THEMES[t] z, 1) with z = (log(company_size) - 5) / 1.5. It owns product p with
    probability sigmoid(PRODUCTS[p].base + PRODUCTS[p].size z + sum_t PRODUCTS[p].loads[t]
    need_t), so products serving the same need are bought together. Its usage pattern is
    one intensity 0..1 per activity: sigmoid(sum_t ACTIVITIES[k][t] need_t + N(0, 0.7)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SEEDS = {"leads": 1101, "churn": 2202, "revenue": 3303, "baskets": 4404}

INDUSTRIES = ("Technology", "Finance", "Healthcare", "Manufacturing", "Retail", "Education", "Other")
INDUSTRY_SHARES = (0.25, 0.15, 0.12, 0.13, 0.12, 0.08, 0.15)
INDUSTRY_EFFECT = {
    "Technology": 0.75, "Finance": 0.45, "Healthcare": 0.15, "Manufacturing": -0.15,
    "Retail": -0.45, "Education": -0.9, "Other": -0.3,
}

# (title as a CRM holds it, seniority level a person would assign, relative frequency)
JOB_TITLES: tuple[tuple[str, float, float], ...] = (
    ("Sales Intern", 0, 2), ("Marketing Intern", 0, 2), ("Executive Assistant", 0, 2),
    ("Administrative Assistant", 0, 2), ("Assistant to the CEO", 0, 1), ("Student", 0, 1),
    ("Office Assistant", 0, 1), ("Junior Analyst", 0.5, 2), ("junior developer", 0.5, 1),
    ("Sales Representative", 1, 5), ("Account Executive", 1, 5), ("Marketing Specialist", 1, 4),
    ("Business Analyst", 1, 4), ("Software Engineer", 1, 4), ("Procurement Specialist", 1, 3),
    ("Customer Success Associate", 1, 3), ("Sales Development Representative", 1, 3),
    ("Accountant", 1, 2), ("Consultant", 1, 2), ("Data Scientist", 1, 2), ("Buyer", 1, 2),
    ("Lead Generation Specialist", 1, 1), ("Office Coordinator", 1, 1),
    ("Assistant Manager", 1.5, 2),
    ("Marketing Manager", 2, 5), ("Sales Manager", 2, 5), ("Senior Engineer", 2, 4),
    ("Team Lead", 2, 3), ("Project Manager", 2, 4), ("IT Manager", 2, 3),
    ("Senior Account Executive", 2, 3), ("Product Owner", 2, 2), ("Operations Supervisor", 2, 2),
    ("Principal Consultant", 2, 1), ("Sr. Software Engineer", 2, 2), ("office mgr", 2, 1),
    ("Senior Manager, Procurement", 2.25, 2),
    ("Associate Director", 2.5, 1),
    ("Director of IT", 3, 3), ("IT Director", 3, 2), ("Head of Procurement", 3, 2),
    ("Head of Sales", 3, 2), ("Director of Marketing", 3, 2), ("Finance Director", 3, 2),
    ("General Manager", 3, 2), ("Dir. of Operations", 3, 1),
    ("Senior Director of Operations", 3.25, 1),
    ("VP of Sales", 4, 2), ("Vice President, Marketing", 4, 2), ("VP Engineering", 4, 1),
    ("vp sales", 4, 1), ("Partner", 4, 1), ("Managing Director", 4, 1),
    ("SVP Sales", 4.25, 1), ("Executive Vice President", 4.25, 1),
    ("Chief Technology Officer", 5, 2), ("CEO", 5, 2), ("CFO", 5, 1), ("Founder", 5, 1),
    ("Co-Founder & CEO", 5, 1), ("Owner", 5, 2), ("President", 5, 1),
    ("Chief Revenue Officer", 5, 1), ("COO", 5, 1),
)

QUARTERS = 4
# log seasonal factors by calendar quarter: Q1 soft, Q4 the year-end push.
SEASONAL_LOG = np.log(np.array([0.93, 1.0, 0.96, 1.11]))
SEASONAL_LOG = SEASONAL_LOG - SEASONAL_LOG.mean()

THEMES = ("sales", "marketing", "service", "field", "analytics", "people", "commerce")
ACTIVITIES: dict[str, dict[str, float]] = {
    "deals": {"sales": 1.0},
    "email_campaigns": {"marketing": 1.0},
    "support_tickets": {"service": 1.0},
    "field_visits": {"field": 1.0},
    "dashboards": {"analytics": 1.0},
    "hiring": {"people": 1.0},
    "online_orders": {"commerce": 1.0},
    "quotes": {"sales": 0.5, "commerce": 0.5},
    "integrations": {"analytics": 0.6},
}


@dataclass(frozen=True)
class ProductTruth:
    base: float
    loads: dict[str, float]
    size: float = 0.0


PRODUCTS: dict[str, ProductTruth] = {
    "crm-core": ProductTruth(2.5, {"sales": 0.2, "service": 0.2}),
    "sales-cloud": ProductTruth(-0.3, {"sales": 1.5}),
    "marketing-automation": ProductTruth(-0.6, {"marketing": 1.5}),
    "service-desk": ProductTruth(-0.5, {"service": 1.5}),
    "analytics-pro": ProductTruth(-1.0, {"analytics": 1.4, "sales": 0.3}),
    "cpq": ProductTruth(-1.4, {"sales": 1.2, "commerce": 0.6}),
    "field-service": ProductTruth(-1.8, {"field": 1.8, "service": 0.5}),
    "hr-suite": ProductTruth(-1.6, {"people": 1.8}),
    "ai-assistant": ProductTruth(-1.5, {"analytics": 0.7, "service": 0.5, "sales": 0.4}, 0.2),
    "data-connectors": ProductTruth(-1.2, {"analytics": 1.2}, 0.3),
    "commerce-cloud": ProductTruth(-1.7, {"commerce": 1.8, "marketing": 0.4}),
    "partner-portal": ProductTruth(-2.0, {"sales": 0.8, "commerce": 0.7}, 0.3),
}
PRODUCT_IDS = tuple(PRODUCTS)

INDUSTRY_THEMES: dict[str, dict[str, float]] = {
    "Technology": {"sales": 0.5, "analytics": 0.7, "people": 0.2},
    "Finance": {"analytics": 0.6, "service": 0.4, "sales": 0.3},
    "Healthcare": {"service": 0.7, "people": 0.3, "field": 0.2},
    "Manufacturing": {"field": 0.9, "sales": 0.3, "commerce": 0.2},
    "Retail": {"commerce": 1.0, "marketing": 0.7, "service": 0.3},
    "Education": {"people": 0.5, "marketing": 0.3, "service": 0.2},
    "Other": {},
}
SIZE_THEMES = {"analytics": 0.3, "people": 0.35, "field": 0.1}


@dataclass
class Labelled:
    """Rows as `validate_features` would hand them to a predictor, and their 0/1 labels."""

    rows: list[dict[str, Any]]
    labels: np.ndarray


@dataclass
class RevenueSeries:
    values: np.ndarray  # quarterly revenue, oldest first
    pipelines: np.ndarray  # pipelines[t]: open pipeline at the end of quarter t
    first_quarter: int  # calendar quarter (1-4) of values[0]
    growth_rate: float

    def quarter(self, t: int) -> int:
        return (self.first_quarter - 1 + t) % QUARTERS + 1


@dataclass
class Customer:
    industry: str
    company_size: int
    usage_patterns: dict[str, float]
    products: list[str] = field(default_factory=list)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _company_sizes(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.clip(np.round(np.exp(rng.normal(4.5, 1.7, n))), 1, 500_000).astype(int)


def lead_logit(
    engagement: np.ndarray, level: np.ndarray, company_size: np.ndarray,
    budget: np.ndarray, industry: list[str],
) -> np.ndarray:
    """The true conversion logit of the lead generating process (see the module docstring)."""
    s = np.log1p(company_size)
    b = np.log1p(budget)
    industry_effect = np.array([INDUSTRY_EFFECT[i] for i in industry])
    return (
        -11.0 + 0.08 * engagement + 0.75 * level + 0.9 * s - 0.065 * s**2 + 0.27 * b
        + industry_effect + 0.03 * np.maximum(engagement - 50, 0) * (level >= 3)
    )


def leads(n: int = 20_000, seed: int = SEEDS["leads"]) -> Labelled:
    rng = np.random.default_rng(seed)
    industry = [INDUSTRIES[i] for i in rng.choice(len(INDUSTRIES), n, p=INDUSTRY_SHARES)]
    size = _company_sizes(rng, n)
    weights = np.array([w for _, _, w in JOB_TITLES], dtype=float)
    title_index = rng.choice(len(JOB_TITLES), n, p=weights / weights.sum())
    level = np.array([JOB_TITLES[i][1] for i in title_index])
    engagement = np.round(100 * rng.beta(2, 2.5, n), 1)
    has_budget = rng.random(n) >= 0.15
    budget_drawn = np.round(np.exp(rng.normal(7.5 + 0.5 * np.log1p(size), 1.0)), -2)
    budget = np.where(has_budget, budget_drawn, 0.0)
    converted = rng.random(n) < _sigmoid(lead_logit(engagement, level, size, budget, industry))
    rows = [
        {
            "company_size": int(size[i]), "industry": industry[i],
            "engagement_score": float(engagement[i]), "job_title": JOB_TITLES[title_index[i]][0],
            "budget": float(budget[i]),
        }
        for i in range(n)
    ]
    return Labelled(rows, converted.astype(int))


def churn(n: int = 20_000, seed: int = SEEDS["churn"]) -> Labelled:
    rng = np.random.default_rng(seed)
    d = rng.normal(0, 1, n)
    age = np.clip(np.round(1 + rng.gamma(1.5, 18, n)), 1, 240).astype(int)
    tickets = rng.poisson(np.exp(0.7 + 0.5 * d))
    usage = np.round(rng.gamma(2, np.exp(2.8 - 0.4 * d) / 2), 1)
    nps = np.clip(np.round(rng.normal(30 - 25 * d, 30)), -100, 100).astype(int)
    delays = rng.poisson(np.exp(-1.0 + 0.4 * d))
    logit = (
        1.7 + 0.9 * np.log1p(tickets) - 1.05 * np.log1p(usage) - 0.02 * nps
        + 1.2 * np.log1p(delays) - 0.5 * np.log1p(age) + 0.75 * d
    )
    churned = rng.random(n) < _sigmoid(logit)
    rows = [
        {
            "account_age": int(age[i]), "support_tickets": int(tickets[i]),
            "usage_frequency": float(usage[i]), "nps_score": float(nps[i]),
            "payment_delays": int(delays[i]),
        }
        for i in range(n)
    ]
    return Labelled(rows, churned.astype(int))


def revenue_series(n: int = 2_000, length: int = 32, seed: int = SEEDS["revenue"]) -> list[RevenueSeries]:
    rng = np.random.default_rng(seed)
    drift = rng.normal(0.015, 0.025, n)
    sigma = rng.uniform(0.02, 0.06, n)
    amplitude = rng.uniform(0.5, 1.5, n)
    coverage = rng.uniform(2.5, 3.5, n)
    first_quarter = rng.integers(1, 5, n)
    start = rng.normal(np.log(250_000), 1.0, n)
    # one extra quarter of latent level so the last pipeline can see the quarter after it
    shocks = rng.normal(0, 1, (n, length + 1)) * sigma[:, None]
    level = start[:, None] + np.cumsum(drift[:, None] + shocks, axis=1)
    quarter_index = (first_quarter[:, None] - 1 + np.arange(length + 1)) % QUARTERS
    seasonal = amplitude[:, None] * SEASONAL_LOG[quarter_index]
    values = np.exp(level[:, :length] + seasonal[:, :length] + rng.normal(0, 0.03, (n, length)))
    pipelines = coverage[:, None] * np.exp(level[:, 1:] + seasonal[:, 1:] + rng.normal(0, 0.10, (n, length)))
    growth = np.exp(4 * drift) - 1 + rng.normal(0, 0.04, n)
    return [
        RevenueSeries(
            values=np.round(values[i], 2), pipelines=np.round(pipelines[i], 2),
            first_quarter=int(first_quarter[i]), growth_rate=float(growth[i]),
        )
        for i in range(n)
    ]


def _theme_matrix(table: dict[str, dict[str, float]], keys: tuple[str, ...]) -> np.ndarray:
    return np.array([[table[k].get(t, 0.0) for t in THEMES] for k in keys])


def baskets(n: int = 6_000, seed: int = SEEDS["baskets"]) -> list[Customer]:
    rng = np.random.default_rng(seed)
    industry_index = rng.choice(len(INDUSTRIES), n, p=INDUSTRY_SHARES)
    size = _company_sizes(rng, n)
    z = (np.log(size) - 5) / 1.5
    industry_means = _theme_matrix(INDUSTRY_THEMES, INDUSTRIES)[industry_index]
    size_means = np.array([SIZE_THEMES.get(t, 0.0) for t in THEMES])[None, :] * z[:, None]
    needs = industry_means + size_means + rng.normal(0, 1, (n, len(THEMES)))
    loads = _theme_matrix({p: t.loads for p, t in PRODUCTS.items()}, PRODUCT_IDS)
    base = np.array([t.base for t in PRODUCTS.values()])
    size_effect = np.array([t.size for t in PRODUCTS.values()])
    owns = rng.random((n, len(PRODUCT_IDS))) < _sigmoid(base + size_effect * z[:, None] + needs @ loads.T)
    activity_names = tuple(ACTIVITIES)
    activity_loads = _theme_matrix(ACTIVITIES, activity_names)
    usage = _sigmoid(needs @ activity_loads.T + rng.normal(0, 0.7, (n, len(activity_names))))
    return [
        Customer(
            industry=INDUSTRIES[industry_index[i]], company_size=int(size[i]),
            usage_patterns={a: round(float(usage[i, k]), 2) for k, a in enumerate(activity_names)},
            products=[p for j, p in enumerate(PRODUCT_IDS) if owns[i, j]],
        )
        for i in range(n)
    ]
