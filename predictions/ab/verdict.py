"""Is the challenger better? Significance tests of the A/B difference and, while there is
no answer yet, how many more outcomes a test with 80% power would need (statsmodels)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize, proportions_ztest
from statsmodels.stats.weightstats import ttest_ind

from predictions.serializers import AbSignificance

ALPHA = 0.05
POWER = 0.8
# Fewer outcomes than this per arm and no test is run: the normal approximations need them.
MIN_OUTCOMES_PER_ARM = 10
# The smallest effects worth waiting for (Cohen's h for accuracy, Cohen's d for errors): when
# the arms look level so far, "outcomes needed" is counted to detect at least this much.
MIN_EFFECT_H = 0.05
MIN_EFFECT_D = 0.1
# Above this the power solver has nothing to solve (a handful of outcomes suffice).
MAX_EFFECT = 1.0


@dataclass(frozen=True)
class Verdict:
    test: str
    winner: str | None  # "challenger", "champion" or None
    p_value: float | None
    outcomes_needed: int | None  # more outcomes (both arms together) for a 95% answer
    text: str

    def significance(self) -> AbSignificance:
        return AbSignificance(
            test=self.test, winner=self.winner,
            pValue=None if self.p_value is None else round(self.p_value, 6),
            confidenceLevel=round((1 - ALPHA) * 100),
            outcomesNeeded=self.outcomes_needed, text=self.text,
        )


def compare_accuracy(
    correct_challenger: int, n_challenger: int, correct_champion: int, n_champion: int,
    *, expected_ratio: float = 1.0,
) -> Verdict:
    """Two-proportion z-test of the arms' accuracies; higher is better."""
    test = "two-proportion z-test"
    p_c = correct_challenger / n_challenger if n_challenger else 0.5
    p_h = correct_champion / n_champion if n_champion else 0.5
    effect = abs(proportion_effectsize(p_c, p_h)) if n_challenger and n_champion else 0.0
    ratio = n_champion / n_challenger if n_challenger and n_champion else expected_ratio
    p_value = None
    if min(n_challenger, n_champion) >= MIN_OUTCOMES_PER_ARM:
        pooled = (correct_challenger + correct_champion) / (n_challenger + n_champion)
        if 0 < pooled < 1:
            _, p = proportions_ztest([correct_challenger, correct_champion], [n_challenger, n_champion])
            p_value = float(p)
        else:  # every outcome right (or wrong) in both arms: no difference at all
            p_value = 1.0
    nobs1 = NormalIndPower().solve_power(
        effect_size=min(max(effect, MIN_EFFECT_H), MAX_EFFECT), alpha=ALPHA, power=POWER, ratio=ratio,
    )
    return _verdict(test, p_value, p_c - p_h, nobs1 * (1 + ratio), n_challenger + n_champion)


def compare_errors(errors_challenger: list[float], errors_champion: list[float], *,
                   expected_ratio: float = 1.0) -> Verdict:
    """Welch's t-test of the arms' absolute errors; lower is better."""
    test = "Welch t-test"
    a, b = np.asarray(errors_challenger, float), np.asarray(errors_champion, float)
    n_c, n_h = len(a), len(b)
    ratio = n_h / n_c if n_c and n_h else expected_ratio
    effect, p_value = 0.0, None
    if n_c >= 2 and n_h >= 2:
        spread = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
        if spread > 0:
            effect = abs(a.mean() - b.mean()) / spread
    if min(n_c, n_h) >= MIN_OUTCOMES_PER_ARM:
        if a.var(ddof=1) + b.var(ddof=1) > 0:
            _, p, _ = ttest_ind(a, b, usevar="unequal")
            p_value = float(p)
        else:
            p_value = 1.0 if a.mean() == b.mean() else 0.0
    nobs1 = TTestIndPower().solve_power(
        effect_size=min(max(effect, MIN_EFFECT_D), MAX_EFFECT), alpha=ALPHA, power=POWER, ratio=ratio,
    )
    # An error smaller is better, so the challenger's advantage is the champion's excess.
    advantage = (b.mean() - a.mean()) if n_c and n_h else 0.0
    return _verdict(test, p_value, advantage, nobs1 * (1 + ratio), n_c + n_h)


def _verdict(test: str, p_value: float | None, advantage: float, total_needed: float, have: int) -> Verdict:
    level = round((1 - ALPHA) * 100)
    if p_value is not None and p_value < ALPHA and advantage != 0:
        winner = "challenger" if advantage > 0 else "champion"
        return Verdict(test, winner, p_value, None, f"{winner} ahead at {level}% confidence")
    # Never fewer than the outcomes the test itself needs before it runs.
    floor = 2 * MIN_OUTCOMES_PER_ARM
    more = max(math.ceil(max(total_needed, floor)) - have, 1)
    return Verdict(test, None, p_value, more, f"not enough evidence yet: about {more} more outcomes needed")
