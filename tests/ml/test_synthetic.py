from __future__ import annotations

import numpy as np

from ml.builtin import synthetic


def test_it_generates_the_same_data_for_the_same_seed():
    first, second = synthetic.leads(500), synthetic.leads(500)
    assert first.rows == second.rows and np.array_equal(first.labels, second.labels)
    assert synthetic.churn(500).rows == synthetic.churn(500).rows
    assert all(np.array_equal(a.values, b.values) for a, b in zip(synthetic.revenue_series(20), synthetic.revenue_series(20), strict=True))
    assert synthetic.baskets(200) == synthetic.baskets(200)
    assert synthetic.leads(500, seed=1).rows != first.rows


def test_it_draws_leads_whose_conversion_follows_the_documented_signals():
    data = synthetic.leads()
    engagement = np.array([r["engagement_score"] for r in data.rows])
    assert 0.3 < data.labels.mean() < 0.45
    assert data.labels[engagement > 70].mean() > 2 * data.labels[engagement < 30].mean()
    assert {r["industry"] for r in data.rows} == set(synthetic.INDUSTRIES)
    assert all(r["company_size"] >= 1 and r["budget"] >= 0 for r in data.rows)


def test_it_draws_accounts_that_churn_with_tickets_and_late_payments():
    data = synthetic.churn()
    delays = np.array([r["payment_delays"] for r in data.rows])
    tickets = np.array([r["support_tickets"] for r in data.rows])
    assert 0.15 < data.labels.mean() < 0.35
    assert data.labels[delays >= 2].mean() > data.labels[delays == 0].mean()
    assert data.labels[tickets >= 5].mean() > data.labels[tickets <= 1].mean()
    assert all(-100 <= r["nps_score"] <= 100 for r in data.rows)


def test_it_draws_seasonal_revenue_with_a_year_end_peak():
    series = synthetic.revenue_series(300)
    by_quarter = {q: [] for q in range(1, 5)}
    for s in series:
        logs = np.log(s.values)
        detrended = logs - np.convolve(logs, np.ones(4) / 4, mode="same")
        for t in range(2, len(logs) - 2):
            by_quarter[s.quarter(t)].append(detrended[t])
    means = {q: np.mean(v) for q, v in by_quarter.items()}
    assert max(means, key=means.get) == 4 and min(means, key=means.get) == 1


def test_it_draws_baskets_of_known_products():
    customers = synthetic.baskets(1_000)
    assert all(set(c.products) <= set(synthetic.PRODUCT_IDS) for c in customers)
    assert len(synthetic.PRODUCT_IDS) == 12
    assert np.mean(["crm-core" in c.products for c in customers]) > 0.8
    assert all(0 <= v <= 1 for c in customers for v in c.usage_patterns.values())
