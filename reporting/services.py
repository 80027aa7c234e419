"""Answering an analytics question: translate (LLM when configured, else the offline
parser) -> validate against the whitelist -> run read-only -> summarise."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from hotcrm_ai.errors import InvalidInput
from reporting.llm import LlmUnavailable, llm_config, question_translate
from reporting.parser import question_parse
from reporting.query import query_validate
from reporting.selectors import query_run, samples_get, vocabulary_get
from reporting.summary import chart_suggest, summarize

logger = logging.getLogger(__name__)
MAX_QUESTION = 500
STATEMENT_TIMEOUT_MS = 10_000


def question_answer(*, question: Any, now: datetime | None = None) -> dict[str, Any]:
    """`now` anchors relative time ranges ("today", "last 7 days"); tests pin it."""
    question = _question(question)
    now = now or timezone.now()
    query, translated_by = None, "parser"
    config = llm_config()
    if config is not None:
        try:
            query, translated_by = question_translate(question, config, samples_get(), now), "llm"
        except LlmUnavailable:
            query = None  # the offline parser answers instead; the response says so
    if query is None:
        query = query_validate(question_parse(question, vocabulary_get(), now), now=now)
    columns, rows = query_run_read_only(query)
    return {
        "question": question,
        "query": query,
        "columns": columns,
        "rows": rows,
        "summary": summarize(query, columns, rows),
        "chart": chart_suggest(query, columns, rows),
        "translatedBy": translated_by,
    }


def query_run_read_only(query: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The ORM only reads here anyway; on PostgreSQL the transaction is also declared read-only
    and time-limited, so no query can write or run away."""
    # Only the outermost transaction may be declared read-only (it would bind an outer one).
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION READ ONLY")
                cursor.execute("SET LOCAL statement_timeout = %s", [STATEMENT_TIMEOUT_MS])
        return query_run(query)


def _question(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("'question' must be a non-empty string.", code="invalid_question")
    value = " ".join(value.split())
    if len(value) > MAX_QUESTION:
        raise InvalidInput(f"'question' may be at most {MAX_QUESTION} characters.", code="question_too_long")
    return value
