"""Reading /metrics in tests: one metric's samples summed over the labels asked for."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def total(text: str, name: str, **labels: str) -> float:
    return sum(
        s.value for family in text_string_to_metric_families(text) for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def samples(text: str, name: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]
