"""Sentiment: VADER, a lexicon-and-rules model made for short, informal text such as emails
and tickets. It ships its lexicon inside the package, so it runs offline and the same text
always gets the same answer.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from vaderSentiment.vaderSentiment import BOOSTER_DICT, SentimentIntensityAnalyzer, SentiText

from ml.base import Prediction, Predictor

LABELLED_CSV = Path(__file__).resolve().parent.parent / "data" / "sentiment_labelled.csv"
THRESHOLD = 0.05  # VADER's own recommended cut-off on the compound score
VADER_ALPHA = 15.0  # compound = s / sqrt(s^2 + alpha), VADER's normalisation
PUNCTUATION = "(punctuation)"


def sentiment_label(compound: float) -> str:
    if compound >= THRESHOLD:
        return "positive"
    if compound <= -THRESHOLD:
        return "negative"
    return "neutral"


def sentiment_confidence(scores: dict[str, float]) -> float:
    """How sure VADER is of the label it gives, 0-100, from its own output.

    Positive/negative: the mean of |compound| and the share of the polar mass on the winning
    side (0.5 when praise and complaint balance, 1 when one-sided). Neutral: how much of the
    text is neutral times how close compound is to zero, so a mixed text is a weak neutral.
    """
    compound = scores["compound"]
    label = sentiment_label(compound)
    polar = scores["pos"] + scores["neg"]
    if label == "neutral":
        value = scores["neu"] * (1 - abs(compound))
    else:
        winning = scores["pos"] if label == "positive" else scores["neg"]
        share = winning / polar if polar else 0.5
        value = (abs(compound) + share) / 2
    return round(100 * value, 2)


class SentimentPredictor(Predictor):
    model_type = "nlp"

    def __init__(self) -> None:
        self._analyzer: SentimentIntensityAnalyzer | None = None

    # The analyzer holds a 7,500-word lexicon read from the package: rebuilt, not pickled.
    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._analyzer = None

    @property
    def analyzer(self) -> SentimentIntensityAnalyzer:
        if self._analyzer is None:
            self._analyzer = SentimentIntensityAnalyzer()
        return self._analyzer

    def scores(self, text: str) -> dict[str, float]:
        return self.analyzer.polarity_scores(text)

    def predict_batch(self, rows: list[dict[str, Any]]) -> list[Prediction]:
        answers = []
        for row in rows:
            scores = self.scores(row["text"])
            compound = scores["compound"]
            answers.append(Prediction(
                value={"sentiment": sentiment_label(compound), "score": round(compound, 4)},
                confidence=sentiment_confidence(scores),
            ))
        return answers

    def word_contributions(self, text: str) -> list[tuple[str, float]]:
        """Each word's share of the compound score, in compound units, in text order.

        VADER sums per-word valences (after its negation, booster and "but" rules) and
        squashes the sum; the squashing is shared out in proportion to the valences (the
        Aumann-Shapley split of a function of a sum), so the contributions add up to the
        compound score. Punctuation emphasis ("!!!") is reported as its own entry.
        """
        words, valences, cleaned = self._valences(text)
        if not words:
            return []
        total = sum(valences)
        emphasis = self.analyzer._punctuation_emphasis(cleaned) if total else 0.0
        signed_emphasis = math.copysign(emphasis, total) if total else 0.0
        total += signed_emphasis
        compound = total / math.sqrt(total * total + VADER_ALPHA)
        per_unit = compound / total if total else 1 / math.sqrt(VADER_ALPHA)
        contributions = [(w, v * per_unit) for w, v in zip(words, valences, strict=True)]
        if signed_emphasis:
            contributions.append((PUNCTUATION, signed_emphasis * per_unit))
        return contributions

    def _valences(self, text: str) -> tuple[list[str], list[float], str]:
        """VADER's per-word valences: `polarity_scores` up to the point where it sums them."""
        analyzer = self.analyzer
        cleaned = _replace_emojis(text, analyzer.emojis).strip()
        senti = SentiText(cleaned)
        words = senti.words_and_emoticons
        valences: list[float] = []
        for i, item in enumerate(words):
            if item.lower() in BOOSTER_DICT or (
                i < len(words) - 1 and item.lower() == "kind" and words[i + 1].lower() == "of"
            ):
                valences.append(0.0)
                continue
            valences = analyzer.sentiment_valence(0, senti, item, i, valences)
        valences = analyzer._but_check(words, valences)
        return list(words), [float(v) for v in valences], cleaned


def _replace_emojis(text: str, emojis: dict[str, str]) -> str:
    """VADER reads an emoji as its description ("😀" -> "grinning face")."""
    parts: list[str] = []
    previous_space = True
    for char in text:
        if char in emojis:
            if not previous_space:
                parts.append(" ")
            parts.append(emojis[char])
            previous_space = False
        else:
            parts.append(char)
            previous_space = char == " "
    return "".join(parts)


def load_labelled(path: Path = LABELLED_CSV) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle)]
