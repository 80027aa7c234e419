"""Lead scoring: how a title reads as seniority, the lead encoding, and the two lead models.

`lead-scoring-v1` is a logistic regression on standardised features, answered in numpy;
`lead-scoring-v2`, its challenger, is a histogram gradient-boosted tree ensemble that can
learn the non-linear effects of the generating process (see `synthetic`). Both report the
conversion probability x 100 as the lead score.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import numpy as np

from ml.base import Prediction, PredictionColumns, TabularSpace
from ml.builtin.synthetic import INDUSTRIES
from ml.builtin.tabular import (
    BinaryClassifier,
    BoostedTreesFastPath,
    LogisticFastPath,
    build_space,
    confidence,
)

# --- seniority --------------------------------------------------------------------------
# Hand-written because no library parses CRM job titles: titles are short, abbreviated
# ("Sr. Dir. of Ops"), and what matters is one ordinal (how close to the budget is this
# person), which a few dozen keywords capture and anyone can audit. Levels:
# 0 intern/assistant, 1 individual contributor, 2 manager/lead/senior, 3 director/head,
# 4 VP/partner, 5 C-level/founder/owner/president.

UNKNOWN_TITLE_LEVEL = 1.0  # no keyword: most CRM contacts are individual contributors
LEVELS = {
    "intern": 0, "internship": 0, "trainee": 0, "student": 0, "apprentice": 0, "assistant": 0,
    "associate": 1, "specialist": 1, "analyst": 1, "coordinator": 1, "representative": 1,
    "manager": 2, "lead": 2, "senior": 2, "principal": 2, "supervisor": 2,
    "director": 3, "head": 3,
    "vp": 4, "partner": 4,
    "chief": 5, "founder": 5, "cofounder": 5, "owner": 5, "president": 5, "chairman": 5,
    "chairwoman": 5,
}
TRAINEES = {"intern", "internship", "trainee", "student", "apprentice"}
# Words that move the title they precede: "Assistant Manager" < "Manager" < "Senior Manager".
LOWERING = {"assistant": 0.5, "associate": 0.5, "deputy": 0.5, "junior": 0.5}
RAISING = {"senior": 0.25, "executive": 0.25}
ABBREVIATIONS = {
    "sr": ["senior"], "snr": ["senior"], "jr": ["junior"], "mgr": ["manager"],
    "mngr": ["manager"], "dir": ["director"], "asst": ["assistant"], "exec": ["executive"],
    "svp": ["senior", "vp"], "evp": ["executive", "vp"], "avp": ["assistant", "vp"],
    **{c: ["chief"] for c in ("ceo", "cto", "cfo", "coo", "cmo", "cio", "cro", "cso", "cpo", "ciso", "cdo", "cco")},
}
# Two-word phrases that mean something else than their words.
PHRASES = {
    ("vice", "president"): ["vp"], ("vice", "chairman"): ["vp"], ("vice", "chair"): ["vp"],
    ("general", "manager"): ["head"], ("managing", "director"): ["vp"],
    ("lead", "generation"): ["generation"], ("lead", "gen"): ["generation"],
    ("product", "owner"): ["lead"], ("process", "owner"): ["lead"],
    ("account", "owner"): ["lead"], ("data", "owner"): ["lead"],
}


def _title_words(job_title: str) -> list[str]:
    words: list[str] = []
    for word in re.findall(r"[a-z]+", job_title.lower()):
        words.extend(ABBREVIATIONS.get(word, [word]))
    if "to" in words:  # "Assistant to the CEO": the boss's title is not the person's
        words = words[: words.index("to")]
    if words[:3] == ["chief", "of", "staff"]:
        return ["director"]
    merged: list[str] = []
    i = 0
    while i < len(words):
        pair = (words[i], words[i + 1]) if i + 1 < len(words) else None
        if pair in PHRASES:
            merged.extend(PHRASES[pair])
            i += 2
        else:
            merged.append(words[i])
            i += 1
    return merged


@lru_cache(maxsize=8_192)
def seniority(job_title: str) -> float:
    """The seniority level 0-5 a free-text job title reads as (1 when no keyword is known)."""
    words = _title_words(job_title)
    ranked = [(LEVELS[w], i) for i, w in enumerate(words) if w in LEVELS]
    if ranked and words[ranked[-1][1]] in TRAINEES:  # "Senior Intern" is an intern
        return 0.0
    if not ranked:
        level = UNKNOWN_TITLE_LEVEL
        head = len(words)
    else:
        level = max(rank for rank, _ in ranked)
        head = max(i for rank, i in ranked if rank == level)  # the head noun comes last
    for word in words[:head]:
        if word in LOWERING and LEVELS.get(word, 0) < level:
            level -= LOWERING[word]
        elif word in RAISING and level >= 2 and LEVELS.get(word, 0) <= level:
            level += RAISING[word]
    return float(min(max(level, 0.0), 5.0))


# --- encoding -----------------------------------------------------------------------------

LEAD_FEATURES = ("company_size", "industry", "engagement_score", "job_title", "budget")
NUMERIC_COLUMNS = ("log_company_size", "engagement_score", "seniority", "log_budget")
LEAD_COLUMNS = (*NUMERIC_COLUMNS, *(f"industry={name}" for name in INDUSTRIES))
INDUSTRY_OFFSET = len(NUMERIC_COLUMNS)
INDUSTRY_INDEX = {name: INDUSTRY_OFFSET + i for i, name in enumerate(INDUSTRIES)}
OTHER_COLUMN = INDUSTRY_INDEX["Other"]
LEAD_FEATURE_COLUMNS = {
    "company_size": [0],
    "industry": list(INDUSTRY_INDEX.values()),
    "engagement_score": [1],
    "job_title": [2],
    "budget": [3],
}
SCORE_NAME = "lead score (probability of conversion × 100)"  # noqa: RUF001


def encode_leads(rows: list[dict[str, Any]]) -> np.ndarray:
    """Cleaned lead rows -> the numeric matrix both lead models read (LEAD_COLUMNS)."""
    n = len(rows)
    matrix = np.zeros((n, len(LEAD_COLUMNS)))
    if n == 1:  # the hot path: plain Python beats numpy's per-call overhead for one row
        row = rows[0]
        values = matrix[0]
        values[0] = math.log1p(row["company_size"])
        values[1] = row["engagement_score"]
        values[2] = seniority(row["job_title"])
        values[3] = math.log1p(row["budget"])
        values[INDUSTRY_INDEX.get(row["industry"], OTHER_COLUMN)] = 1.0
        return matrix
    # math.log1p on both paths: numpy's can differ in the last bit, and then so would answers
    matrix[:, 0] = [math.log1p(row["company_size"]) for row in rows]
    matrix[:, 1] = [row["engagement_score"] for row in rows]
    matrix[:, 2] = [seniority(row["job_title"]) for row in rows]
    matrix[:, 3] = [math.log1p(row["budget"]) for row in rows]
    industry = [INDUSTRY_INDEX.get(row["industry"], OTHER_COLUMN) for row in rows]
    matrix[np.arange(n), industry] = 1.0
    return matrix


# --- models -------------------------------------------------------------------------------


def lead_class(score: float) -> str:
    return "hot" if score >= 70 else "warm" if score >= 40 else "cold"


class LeadScorer(BinaryClassifier):
    """What both lead models share: the encoding and the answer's shape."""

    def encode(self, rows: list[dict[str, Any]]) -> np.ndarray:
        return encode_leads(rows)

    def output(self, matrix: np.ndarray) -> np.ndarray:
        return 100.0 * self.probability(matrix)

    def decide(self, outputs: np.ndarray) -> list[Prediction]:
        return self.decide_columns(outputs).predictions()

    def decide_columns(self, outputs: np.ndarray) -> PredictionColumns:
        scores = np.round(outputs, 2).tolist()
        values = [{"score": s, "class": lead_class(s)} for s in scores]
        return PredictionColumns(values, confidence(outputs / 100.0).tolist(), ["model"] * len(values))


class LogisticLeadScorer(LeadScorer):
    def __init__(self, space: TabularSpace, model: LogisticFastPath) -> None:
        super().__init__(space)
        self.model = model

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        return self.model.probability(matrix)


class BoostedLeadScorer(LeadScorer):
    def __init__(self, space: TabularSpace, model: BoostedTreesFastPath) -> None:
        super().__init__(space)
        self.model = model

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        return self.model.probability(matrix)


def _lead_space(rows: list[dict[str, Any]]) -> TabularSpace:
    return build_space(
        feature_names=LEAD_FEATURES, columns=LEAD_FEATURE_COLUMNS, rows=rows,
        encode=encode_leads, output_name=SCORE_NAME,
    )


def fit_logistic(rows: list[dict[str, Any]], labels: np.ndarray) -> LogisticLeadScorer:
    return LogisticLeadScorer(_lead_space(rows), LogisticFastPath.fit(encode_leads(rows), labels))


def fit_boosted(rows: list[dict[str, Any]], labels: np.ndarray) -> BoostedLeadScorer:
    # More engagement, seniority or budget never lowers a score: domain knowledge that keeps
    # the challenger's answers (and their explanations) sensible where data is thin.
    monotonic = [0] * len(LEAD_COLUMNS)
    monotonic[1] = monotonic[2] = monotonic[3] = 1
    model = BoostedTreesFastPath.fit(
        encode_leads(rows), labels,
        learning_rate=0.08, max_iter=300, max_leaf_nodes=15, min_samples_leaf=40,
        l2_regularization=1.0, monotonic_cst=monotonic,
        early_stopping=len(rows) >= 2_000, n_iter_no_change=20, random_state=0,
    )
    return BoostedLeadScorer(_lead_space(rows), model)
