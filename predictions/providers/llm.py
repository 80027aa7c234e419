"""What the LLM providers (`openai`, `anthropic`) share: the tasks, their prompts, the
structured answer each task asks for, the input text, and reading a stated confidence."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from predictions.providers.resilience import misconfigured, model_config

if TYPE_CHECKING:
    from registry.models import MLModel

SENTIMENTS = ["positive", "neutral", "negative"]
PROMPTS = {
    "sentiment": "Classify the sentiment of the customer's text as positive, neutral or negative.",
    "classification": "Classify the input into exactly one of these classes: {labels}.",
    "text": "Answer the request in the input concisely.",
}
CONFIDENCE = {"type": "number", "description": "Your probability (0 to 1) that the answer is right."}


def task_for(model: MLModel) -> str:
    default = {"nlp": "sentiment", "classification": "classification"}.get(model.type, "text")
    task = model_config(model).get("task", default)
    if task not in PROMPTS:
        raise misconfigured("config.task must be sentiment, classification or text")
    if task == "classification" and not labels_for(model):
        raise misconfigured("config.labels (a list of class names) is required for classification")
    return task


def labels_for(model: MLModel) -> list[str]:
    labels = model_config(model).get("labels")
    if model.type == "nlp" and not labels:
        return SENTIMENTS
    return [str(label) for label in labels] if isinstance(labels, list) else []


def instructions(model: MLModel, task: str) -> str:
    custom = model_config(model).get("instructions")
    if isinstance(custom, str) and custom.strip():
        return custom
    return PROMPTS[task].format(labels=", ".join(map(str, labels_for(model))))


def answer_key(task: str) -> str:
    return {"sentiment": "sentiment", "classification": "class"}.get(task, "text")


def answer_schema(task: str, labels: list[str]) -> dict[str, Any]:
    key = answer_key(task)
    if task == "text":
        answer: dict[str, Any] = {"type": "string", "description": "The answer."}
    else:
        answer = {"type": "string", "enum": SENTIMENTS if task == "sentiment" else labels}
    return {
        "type": "object",
        "properties": {key: answer, "confidence": CONFIDENCE},
        "required": [key, "confidence"],
        "additionalProperties": False,
    }


def input_text(model: MLModel, row: dict[str, Any]) -> str:
    name = model_config(model).get("textFeature")
    if not name:
        texts = [f["name"] for f in (model.feature_schema or {}).get("features", [])
                 if f.get("type") in ("text", "string")]
        name = texts[0] if len(texts) == 1 and len(row) == 1 else None
    if name:
        return str(row.get(name, ""))
    return json.dumps(row, sort_keys=True, ensure_ascii=False)


def stated(value: Any) -> float | None:
    """The confidence an LLM wrote in its answer, if it is a probability."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    return None


def sentiment_score(label: str, confidence: float | None, distribution: dict[str, float]) -> float | None:
    """-1 (surely negative) .. +1 (surely positive)."""
    if distribution:
        return round(distribution.get("positive", 0.0) - distribution.get("negative", 0.0), 6)
    if confidence is None:
        return None
    return round({"positive": confidence, "negative": -confidence}.get(label, 0.0), 6)
