from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.builtin import synthetic
from tests.ml.support import clean

RECOMMEND = "product-recommendation-v1"
ACCOUNT = {"current_products": ["crm-core", "sales-cloud"], "industry": "Retail", "company_size": 250}


@pytest.fixture(scope="module")
def recommender(trained):
    return trained[RECOMMEND].predictor


def items(recommender, features: dict) -> list[dict]:
    return recommender.predict_batch([clean(RECOMMEND, features)])[0].value["items"]


def test_it_recommends_five_unowned_products_best_first(recommender):
    recommended = items(recommender, ACCOUNT)
    assert len(recommended) == 5
    assert not {i["id"] for i in recommended} & set(ACCOUNT["current_products"])
    scores = [i["score"] for i in recommended]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert all(s == round(s, 4) for s in scores)


@settings(max_examples=60, deadline=None)
@given(
    owned=st.lists(st.sampled_from(synthetic.PRODUCT_IDS), unique=True),
    unknown=st.lists(st.text(min_size=1, max_size=10).filter(lambda s: s not in synthetic.PRODUCT_IDS), max_size=3),
    industry=st.sampled_from([*synthetic.INDUSTRIES, "Aerospace"]),
    size=st.integers(1, 10_000_000),
)
def test_it_never_recommends_what_the_account_owns_and_ignores_unknown_ids(recommender, owned, unknown, industry, size):
    account = {"current_products": owned, "industry": industry, "company_size": size}
    recommended = items(recommender, account)
    assert not {i["id"] for i in recommended} & set(owned)
    assert len(recommended) == min(5, len(synthetic.PRODUCT_IDS) - len(owned))
    assert items(recommender, {**account, "current_products": owned + unknown}) == recommended


def test_it_has_nothing_to_recommend_to_an_account_that_owns_everything(recommender):
    everything = recommender.predict_batch([clean(RECOMMEND, {**ACCOUNT, "current_products": list(synthetic.PRODUCT_IDS)})])[0]
    assert everything.value == {"items": []} and everything.confidence == 0


def test_it_reads_usage_patterns(recommender):
    def score(product: str, usage: dict) -> float:
        scores = {i["id"]: i["score"] for i in recommender.predict_batch(
            [clean(RECOMMEND, {**ACCOUNT, "usage_patterns": usage})]
        )[0].value["items"]}
        return scores.get(product, 0.0)

    assert score("field-service", {"field_visits": 1.0}) > score("field-service", {})
    assert score("hr-suite", {"hr-suite": 1.0}) > score("hr-suite", {})  # a product id as key
    assert score("field-service", {"field_visits": 40, "deals": 40}) == score(
        "field-service", {"field_visits": 1.0, "deals": 1.0}
    )  # counts are scaled by the largest one
    assert score("field-service", {"notes": "x", "nested": {"a": 1}}) == score("field-service", {})


def test_it_takes_confidence_from_its_best_recommendation(recommender):
    answers = recommender.predict_batch([
        clean(RECOMMEND, ACCOUNT),
        clean(RECOMMEND, {**ACCOUNT, "current_products": ["crm-core", "sales-cloud", "commerce-cloud", "marketing-automation"]}),
    ])
    for answer in answers:
        assert answer.confidence == round(100 * answer.value["items"][0]["score"], 2)
    assert answers[0].confidence != answers[1].confidence


def test_it_predicts_a_batch_as_it_predicts_each_row(recommender):
    rows = [
        clean(RECOMMEND, {"current_products": c.products, "industry": c.industry,
                          "company_size": c.company_size, "usage_patterns": c.usage_patterns})
        for c in synthetic.baskets(100, seed=12)
    ]
    assert recommender.predict_batch(rows) == [recommender.predict_batch([row])[0] for row in rows]


def test_it_finds_hidden_products_better_than_popularity(trained):
    metrics = trained[RECOMMEND].metrics
    assert metrics["recallAt5"] > metrics["popularityRecallAt5"]
    assert 0 < metrics["precisionAt5"] <= 0.4  # at most two hidden products among five picks
