"""The human-readable texts of explanations and comparisons."""

from __future__ import annotations

from typing import Any

from explanations.explainers import Output
from explanations.serializers import Difference, FeatureContribution
from explanations.shapley import Attribution


def value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return number_text(float(value))
    return str(value)


def number_text(value: float) -> str:
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def explanation_text(output: Output, contributions: list[FeatureContribution], attribution: Attribution) -> str:
    """ "The prediction was influenced by: / Positive factors: • Engagement Score: 85 (impact: +35%)"."""
    positive = [c for c in contributions if c.shapValue > 0]
    negative = [c for c in contributions if c.shapValue < 0]
    lines = ["The prediction was influenced by:"]
    for title, group in (("Positive factors:", positive), ("Negative factors:", negative)):
        if group:
            lines += ["", title]
            lines += [f"• {_named(c)} (impact: {c.contribution * 100:+.0f}%)" for c in group]
    if not positive and not negative:
        lines += ["", "No feature moved the prediction away from the baseline."]
    lines += [
        "",
        f"{output.name[0].upper()}{output.name[1:]}: {number_text(round(float(attribution.output), 4))}, "
        f"against a baseline of {number_text(round(float(attribution.base), 4))}"
        + (" (a sampling estimate)." if attribution.method == "permutation" else "."),
    ]
    return "\n".join(lines)


def _named(contribution: FeatureContribution) -> str:
    """ "Engagement Score: 85"; a word is its own label and value: "love"."""
    value = value_text(contribution.value)
    return contribution.label if value in contribution.label else f"{contribution.label}: {value}"


def comparison_text(output: Output, differences: list[Difference], attribution: Attribution) -> str:
    """ "Engagement Score changed from 45 to 85, which raised the score by 22 points"."""
    if not differences:
        return "The two feature sets are the same, and so are the predictions."
    lines = ["Key differences:"]
    for d in differences:
        change = f"{d.label} changed from {value_text(d.value1)} to {value_text(d.value2)}"
        lines.append(f"• {change}, which {_effect(output, d.impact)}")
    total = float(attribution.output) - float(attribution.base)
    lines += ["", f"Altogether {_effect(output, total)}."]
    return "\n".join(lines)


def _effect(output: Output, change: float) -> str:
    if round(change * output.scale, 2) == 0:
        return f"did not change {output.noun}" if change == 0 else f"hardly changed {output.noun}"
    verb = "raised" if change > 0 else "lowered"
    return f"{verb} {output.noun} by {output.amount(change)}"
