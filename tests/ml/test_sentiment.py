from __future__ import annotations

import pickle

import pytest

from ml.builtin.sentiment import PUNCTUATION, SentimentPredictor, load_labelled

SENTIMENT = "sentiment-analysis-v1"


@pytest.fixture(scope="module")
def sentiment() -> SentimentPredictor:
    return SentimentPredictor()


def answer(predictor: SentimentPredictor, text: str):
    return predictor.predict_batch([{"text": text}])[0]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I love this product", "positive"),
        ("this is terrible, cancel my account", "negative"),
        ("The meeting is scheduled for Tuesday at 10am.", "neutral"),
        ("Not happy with the response, the problem is still there.", "negative"),
        ("We were worried about the import, but it went flawlessly.", "positive"),
    ],
)
def test_it_reads_the_sentiment_of_crm_text(sentiment, text, label):
    assert answer(sentiment, text).value["sentiment"] == label


def test_it_answers_with_vaders_compound_score(sentiment):
    result = answer(sentiment, "I love this product")
    assert result.value["score"] == sentiment.scores("I love this product")["compound"] > 0.5
    assert answer(sentiment, "").value == {"sentiment": "neutral", "score": 0.0}


def test_it_derives_confidence_from_the_text_not_a_constant(sentiment):
    texts = [text for text, _ in load_labelled()]
    confidences = [answer(sentiment, text).confidence for text in texts]
    assert all(0 <= c <= 100 for c in confidences)
    assert len(set(confidences)) > 20
    assert answer(sentiment, "Great, great, wonderful!").confidence > answer(sentiment, "It was ok I guess").confidence


def test_it_is_more_sure_of_one_sided_praise_than_of_mixed_feelings(sentiment):
    one_sided = answer(sentiment, "Excellent support, thank you")
    mixed = answer(sentiment, "Excellent support but a terrible, buggy app")
    assert one_sided.confidence > mixed.confidence


@pytest.mark.parametrize(
    "text",
    ["I love this product", "this is terrible, cancel my account!!!", "The app is not bad, but support is awful :(",
     "Thanks 😀", "neutral words only", "GREAT job"],
)
def test_it_splits_the_compound_score_into_word_contributions(sentiment, text):
    contributions = sentiment.word_contributions(text)
    assert sum(c for _, c in contributions) == pytest.approx(sentiment.scores(text)["compound"], abs=1e-4)


def test_it_credits_the_words_that_carry_the_sentiment(sentiment):
    contributions = dict(sentiment.word_contributions("this is terrible, cancel my account!!!"))
    assert min(contributions, key=contributions.get) == "terrible"
    assert contributions[PUNCTUATION] < 0  # the exclamation marks amplify the complaint
    assert max(sentiment.word_contributions("I love this product"), key=lambda wc: wc[1])[0] == "love"


def test_it_pickles_without_its_lexicon_and_answers_the_same(sentiment):
    blob = pickle.dumps(sentiment)
    assert len(blob) < 1_000
    assert pickle.loads(blob).predict_batch([{"text": "I love this product"}]) == sentiment.predict_batch(
        [{"text": "I love this product"}]
    )


def test_it_ships_a_balanced_labelled_set(trained):
    labelled = load_labelled()
    labels = [label for _, label in labelled]
    assert len(labelled) >= 75
    assert {labels.count(label) for label in ("positive", "neutral", "negative")} == {len(labelled) // 3}
    metrics = trained[SENTIMENT].metrics
    assert metrics["labelledRows"] == len(labelled)
    assert metrics["accuracy"] > 0.7 and metrics["macroF1"] > 0.7
