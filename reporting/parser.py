"""The offline parser: common analytics questions in English -> a structured query.

Hand-written keyword and pattern rules (no NLP library parses "p95 latency per model last
week" into this project's query shape, and the rules stay small and inspectable). It only
ever builds a query dict; query_validate checks it like any other, so a question can never
name anything outside the whitelist. Questions it cannot place get a 422 with examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reporting.query import FIRST_YEAR, LAST_YEAR, QueryInvalid, add_months

EXAMPLES = [
    "How many predictions were made today?",
    "Predictions per model in the last 7 days",
    "Average confidence by class this week",
    "p95 latency per model yesterday",
    "Error rate by provider in the last 24 hours",
    "Top 5 object types by predictions this month",
    "How many high risk predictions this quarter compared to the previous period?",
    "Predictions per day for lead-scoring-v1 in Q3 2026",
    "How many active models are there, by provider?",
    "Show the last 10 predictions for accounts",
]

WRITE_RE = re.compile(
    r"\b(delete|drop|truncate|update|insert|alter|remove|erase|wipe|modify|grant|revoke|"
    r"overwrite|destroy|purge|reset|exec|execute)\b"
)
METRIC_RE = re.compile(
    r"\b(latency|latencies|response times?|processing times?|error rates?|errors?|failures?|"
    r"failed|requests?|cache hits?|hit rates?|cache misses|metrics?|throughput|slowest|fastest|"
    r"explanations?)\b"
)
PRED_RE = re.compile(
    r"\b(predictions?|predicted|scored|scores?|leads?|accounts?|contacts?|opportunit(?:y|ies)|"
    r"deals?|customers?|objects?|object types?|hot|warm|cold|risk|churn|sentiments?|positive|"
    r"negative|neutral|confidence|probabilit(?:y|ies)|arms?|champion|challenger|class(?:es)?|"
    r"users?|labels?|shadow)\b"
)
REGISTRY_RE = re.compile(
    r"\b(models?|registered|registry|deprecated|inactive|statuses|status|versions?|ab tests?|"
    r"traffic|accuracy|accurate|ttl)\b"
)
COUNT_RE = re.compile(r"\b(how many|count|number of|total number|amount of|volume)\b")
LIST_RE = re.compile(r"\b(list|show|display|give me|which|what are)\b")
COMPARE_RE = re.compile(
    r"\b(compared? (?:to|with)|vs|versus|than (?:the )?(?:previous|prior|period before)|"
    r"previous period|prior period|period before|change (?:from|since|over|on)|growth)\b"
)
DESC_RE = re.compile(r"\b(most|highest|largest|biggest|busiest|slowest|max|maximum|worst|top)\b")
ASC_RE = re.compile(r"\b(least|fewest|lowest|smallest|fastest|min|minimum|bottom)\b")

# (pattern, dimension) in priority order; the dimension must exist in the source.
DIMENSIONS: list[tuple[str, dict[str, str]]] = [
    (r"object types?|types? of objects?|record types?", {"predictions": "objectType"}),
    (r"object ids?|objects?|records?", {"predictions": "objectId"}),
    (r"error codes?", {"metrics": "errorCode"}),
    (r"model types?", {"models": "type"}),
    (r"models?", {"predictions": "modelId", "metrics": "modelId"}),
    (r"(?:ab )?arms?|variants?", {"predictions": "abArm", "metrics": "abArm"}),
    (r"providers?", {"predictions": "provider", "metrics": "provider", "models": "provider"}),
    (r"(?:lead )?class(?:es)?", {"predictions": "class"}),
    (r"(?:churn )?risk(?: levels?)?", {"predictions": "risk"}),
    (r"sentiments?", {"predictions": "sentiment"}),
    (r"labels?", {"predictions": "label"}),
    (r"users?", {"predictions": "userId"}),
    (r"hours?", {"predictions": "hour", "metrics": "hour", "models": "hour"}),
    (r"days?|dates?", {"predictions": "day", "metrics": "day", "models": "day"}),
    (r"weeks?", {"predictions": "week", "metrics": "week", "models": "week"}),
    (r"months?", {"predictions": "month", "metrics": "month", "models": "month"}),
    (r"status(?:es)?", {"models": "status"}),
    (r"types?", {"models": "type"}),
    (r"versions?", {"predictions": "modelVersion", "metrics": "modelVersion", "models": "version"}),
    (r"kinds?", {"metrics": "kind"}),
]
DIM_ALT = "|".join(f"(?:{p})" for p, _ in DIMENSIONS)
GROUP_RE = re.compile(
    r"\b(?:per|by|for each|for every|each|every|across|broken down by|grouped by|split by|"
    rf"group by|in each|which|what)\s+(?:the\s+|a\s+|an\s+)?({DIM_ALT})\b"
)
TOP_RE = re.compile(rf"\b(top|bottom|first)\s+(\d{{1,4}})(?:\s+({DIM_ALT}))?\b")
ADVERBS = {"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month"}

NUMERIC = {
    "predictions": [(r"\b(?:lead )?scores?\b", "score"), (r"\b(?:churn )?probabilit(?:y|ies)\b", "probability"),
                    (r"\bconfidence\b", "confidence")],
    "metrics": [(r"\b(?:latenc(?:y|ies)|response times?|processing times?|slowest|fastest)\b", "latency"),
                (r"\bconfidence\b", "confidence")],
    "models": [(r"\btraffic\b", "trafficPercentage"), (r"\b(?:cache )?ttl\b", "cacheTtl"),
               (r"\baccura(?:te|cy)\b", "accuracy")],
}
DEFAULT_NUMERIC = {"predictions": "confidence", "metrics": "latency", "models": "accuracy"}
LISTING = {
    "predictions": ["createdAt", "modelId", "label", "confidence", "objectType", "objectId", "abArm", "cached"],
    "metrics": ["timestamp", "modelId", "latency", "success", "errorCode", "cached"],
    "models": ["modelId", "name", "version", "type", "provider", "status"],
}
THRESHOLD_RE = re.compile(
    r"\b(confidence|score|probability|latency|accuracy|traffic)\s+(?:is\s+|of\s+)?"
    r"(above|over|greater than|more than|higher than|at least|below|under|less than|lower than|"
    r"at most|>=|<=|>|<)\s+(-?\d+(?:\.\d+)?)"
)
THRESHOLD_OPS = {"above": ">", "over": ">", "greater than": ">", "more than": ">", "higher than": ">",
                 "at least": ">=", "below": "<", "under": "<", "less than": "<", "lower than": "<",
                 "at most": "<=", ">=": ">=", "<=": "<=", ">": ">", "<": "<"}
THRESHOLD_FIELDS = {"latency": "latency", "traffic": "trafficPercentage"}
PROVIDERS = {"openai": "openai", "aws-sagemaker": "aws-sagemaker", "sagemaker": "aws-sagemaker",
             "azure-ml": "azure-ml", "azure": "azure-ml", "custom": "custom", "local": "local"}
ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}


@dataclass
class Vocabulary:
    """Values the parser recognises by name: read from the data, capped."""

    model_ids: list[str] = field(default_factory=list)
    object_types: list[str] = field(default_factory=list)


def not_understood(message: str) -> QueryInvalid:
    return QueryInvalid(message, extra={"examples": EXAMPLES})


def question_parse(question: str, vocabulary: Vocabulary, now: datetime) -> dict[str, Any]:
    text = _normalise(question)
    if WRITE_RE.search(text):
        raise not_understood("Only questions that read data can be answered; nothing is ever changed.")
    source = _source(text)
    if source is None:
        raise not_understood(
            "The question was not understood: it names no predictions, metrics or models to count or measure."
        )
    query: dict[str, Any] = {"source": source}
    # "this month vs last month": the named previous period is the comparison, not the range.
    text = re.sub(
        r"\b(?:vs|versus|compared (?:to|with)|than|against) (?:the )?(?:last|previous|prior) "
        r"(?:hour|day|week|month|quarter|year|period)\b", " compared with the previous period ", text)
    time_range, text = _time_range(text, now)
    if time_range:
        query["timeRange"] = time_range
    if COMPARE_RE.search(text):
        query["compareWithPrevious"] = True
        query.setdefault("timeRange", {"last": 7, "unit": "days"})
    rate, text = _rate(text, source)
    filters = _filters(text, question, source, vocabulary)
    if filters:
        query["filters"] = filters
    if _is_listing(text, source, rate):
        query |= _listing(text, source)
        query.pop("compareWithPrevious", None)
        return query
    group_by, limit, direction = _grouping(text, source)
    query["aggregations"] = rate or _aggregations(text, source, bool(group_by))
    if group_by:
        query["groupBy"] = group_by
    if limit:
        query["limit"] = limit
    if direction and group_by and (limit or not set(group_by) & {"hour", "day", "week", "month"}):
        query["orderBy"] = [[query["aggregations"][0].get("as") or _alias(query["aggregations"][0]), direction]]
    return query


def _alias(agg: dict[str, Any]) -> str:
    from reporting.query import default_alias

    return default_alias(agg)


def _normalise(question: str) -> str:
    text = question.lower()
    text = re.sub(r"\ba\s*/\s*b\b|\ba-b\b", "ab", text)
    text = re.sub(r"\bobject[-_ ]?type", "object type", text)
    text = re.sub(r"\bobject[-_ ]?id", "object id", text)
    text = re.sub(r"[?!,;()]", " ", text)
    text = re.sub(r"\bmost recent\b", "latest", text)
    return re.sub(r"\s+", " ", text).strip()


def _source(text: str) -> str | None:
    if METRIC_RE.search(text):
        return "metrics"
    grouped_by_model = re.search(r"\b(per|by|each|every|across|top \d+|bottom \d+)\s+models?\b", text)
    if REGISTRY_RE.search(text) and not PRED_RE.search(text) and not grouped_by_model:
        return "models"
    if PRED_RE.search(text) or grouped_by_model:
        return "predictions"
    return None


# --- time -------------------------------------------------------------------------------

def _time_range(text: str, now: datetime) -> tuple[dict[str, Any] | None, str]:
    for pattern, build in _TIME_RULES:
        match = re.search(pattern, text)
        if match:
            found = build(match, now)
            if found:
                return found, (text[: match.start()] + " " + text[match.end():]).strip()
    return None, text


def _last_n(match: re.Match, now: datetime) -> dict[str, Any]:
    n, unit = int(match.group(1)), match.group(2).rstrip("s") + "s"
    if unit == "months":
        if not 1 <= n <= MAX_MONTHS:
            raise not_understood(f"The last {n} months reaches too far back; ask for up to {MAX_MONTHS}.")
        start = add_months(now, -n)
        return {"from": start.isoformat(), "to": now.isoformat(), "label": f"the last {n} months"}
    return {"last": n, "unit": unit}


def _last_one(match: re.Match, now: datetime) -> dict[str, Any]:
    word, unit = match.group(1), match.group(2)
    if unit in ("hour", "day"):
        return {"last": 24 if unit == "day" else 1, "unit": "hours"}
    if word == "past":
        if unit == "week":
            return {"last": 7, "unit": "days"}
        months = {"month": 1, "quarter": 3, "year": 12}[unit]
        return {"from": add_months(now, -months).isoformat(), "to": now.isoformat(), "label": f"the past {unit}"}
    return {"period": f"last_{unit}"}


def _quarter(match: re.Match, now: datetime) -> dict[str, Any]:
    q = int(match.group("q")) if match.group("q") else ORDINALS[match.group("ord")]
    year = match.group("year") or match.group("year_before")
    return {"quarter": q, "year": int(year) if year else now.year}


def _since(match: re.Match, now: datetime) -> dict[str, Any]:
    _date(match.group(1))
    return {"from": match.group(1), "to": now.isoformat(), "label": f"since {match.group(1)}"}


def _on_day(match: re.Match, now: datetime) -> dict[str, Any]:
    day = _date(match.group(1))
    return {"from": match.group(1), "to": (day + timedelta(days=1)).date().isoformat(), "label": f"on {match.group(1)}"}


def _between(match: re.Match, now: datetime) -> dict[str, Any]:
    _date(match.group(1))
    end = _date(match.group(2)) + timedelta(days=1)
    return {"from": match.group(1), "to": end.date().isoformat(),
            "label": f"from {match.group(1)} to {match.group(2)}"}


def _date(text: str) -> datetime:
    """A date the question names, if it exists and lies in the range questions may ask about
    (a 30 February or the year 9999 was a 500 before)."""
    try:
        day = datetime.fromisoformat(text)
    except ValueError:
        raise not_understood(f"{text} is not a date.") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise not_understood(f"{text} is outside the years {FIRST_YEAR}-{LAST_YEAR}.")
    return day


MAX_MONTHS = 1200
DATE = r"(\d{4}-\d{2}-\d{2})"
_TIME_RULES = [
    (rf"\bbetween {DATE} and {DATE}", _between),
    (rf"\bsince {DATE}", _since),
    (rf"\bon {DATE}", _on_day),
    (r"\b(?:in |during |over |for |within )?(?:the )?(?:last|past|previous) (\d{1,4}) (hours?|days?|weeks?|months?)\b", _last_n),
    (r"\b(?:in |during |over |for |within )?(?:the )?(last|past|previous) (hour|day|week|month|quarter|year)\b", _last_one),
    (r"\b(?:for |during |in )?today\b", lambda m, n: {"period": "today"}),
    (r"\b(?:for |during |on )?yesterday\b", lambda m, n: {"period": "yesterday"}),
    (r"\b(?:for |during |in )?this (week|month|quarter|year)\b", lambda m, n: {"period": f"this_{m.group(1)}"}),
    (r"\b(?:in |during |for )?(?:the )?(?:(?P<year_before>\d{4}) )?(?:q(?P<q>[1-4])|(?P<ord>first|second|third|fourth|1st|2nd|3rd|4th) quarter)"
     r"(?: (?:of )?(?P<year>\d{4}))?\b", _quarter),
]


# --- what is measured ---------------------------------------------------------------------

def _numeric_field(text: str, source: str) -> str | None:
    for pattern, name in NUMERIC[source]:
        if re.search(pattern, text):
            return name
    return None


def _rate(text: str, source: str) -> tuple[list[dict[str, Any]] | None, str]:
    """'error rate', 'cache hit rate', 'share of hot leads': the percentage of rows that match."""
    rules: list[tuple[str, dict[str, Any]]] = []
    if source == "metrics":
        share = r"\b(?:share|percentage|proportion|percent|fraction|ratio) of (?:requests |calls )?(?:that |which )?(?:were |are |was )?"
        rules += [(r"\b(?:error|failure) rates?\b|" + share + r"(?:failed|failures|errors)\b",
                   {"fn": "rate", "field": "success", "value": False, "as": "errorRate"}),
                  (r"\b(?:cache )?hit rates?\b|\bcache hit ratio\b|" + share + r"(?:cache hits|cached|from (?:the )?cache)\b",
                   {"fn": "rate", "field": "cached", "value": True, "as": "cacheHitRate"})]
    if source == "predictions":
        share = r"\b(?:share|percentage|proportion|percent|fraction|ratio|rate) of (?:\w+ )?(?:that |which )?(?:are |were |is |was )?"
        rules += [(share + r"(hot|warm|cold)\b", {"fn": "rate", "field": "class"}),
                  (share + r"(high|medium|low)[ -]risk\b", {"fn": "rate", "field": "risk"}),
                  (share + r"(positive|negative|neutral)\b", {"fn": "rate", "field": "sentiment"}),
                  (share + r"(cached)\b", {"fn": "rate", "field": "cached", "value": True, "as": "cachedRate"})]
    for pattern, agg in rules:
        match = re.search(pattern, text)
        if match:
            agg = dict(agg)
            if "value" not in agg:
                agg["value"] = match.group(1)
                agg["as"] = f"{match.group(1)}Rate"
            return [agg], (text[: match.start()] + " " + text[match.end():]).strip()
    return None, text


def _aggregations(text: str, source: str, grouped: bool) -> list[dict[str, Any]]:
    # "confidence above 80" is a filter, not what is measured.
    numeric = _numeric_field(THRESHOLD_RE.sub(" ", text), source)
    target = numeric or DEFAULT_NUMERIC[source]
    aggs: list[dict[str, Any]] = []
    if re.search(r"\b(average|avg|mean)\b", text):
        aggs.append({"fn": "avg", "field": target})
    if re.search(r"\bmedian\b", text):
        aggs.append({"fn": "percentile", "field": target, "p": 50})
    for match in re.finditer(r"\b(?:p(\d{1,2}(?:\.\d)?)|(\d{1,2})(?:st|nd|rd|th)[ -]percentile)\b", text):
        aggs.append({"fn": "percentile", "field": target, "p": float(match.group(1) or match.group(2))})
    if numeric and re.search(r"\b(sum|total)\b", text) and not COUNT_RE.search(text):
        aggs.append({"fn": "sum", "field": numeric})
    if numeric and grouped and not aggs and not COUNT_RE.search(text):
        aggs.append({"fn": "avg", "field": numeric})
    if numeric and not grouped and not aggs:
        if re.search(r"\b(max|maximum|highest|largest|biggest|peak|slowest)\b", text):
            aggs.append({"fn": "max", "field": numeric})
        elif re.search(r"\b(min|minimum|lowest|smallest|fastest)\b", text):
            aggs.append({"fn": "min", "field": numeric})
    distinct = re.search(r"\b(?:distinct|unique|different) (object ids?|objects?|users?|models?|object types?)\b", text)
    if distinct:
        name = {"o": "objectId", "u": "userId", "m": "modelId"}[distinct.group(1)[0]]
        if distinct.group(1).startswith("object type"):
            name = "objectType"
        if source == "predictions" or name == "modelId":
            aggs.append({"fn": "countDistinct", "field": name})
    for agg in aggs:
        if agg["fn"] == "percentile" and float(agg["p"]).is_integer():
            agg["p"] = int(agg["p"])
    return aggs or [{"fn": "count"}]


def _grouping(text: str, source: str) -> tuple[list[str], int | None, str | None]:
    found: list[tuple[int, str]] = []
    limit, direction = None, None
    for match in GROUP_RE.finditer(text):
        dim = _dimension(match.group(1), source)
        if dim:
            found.append((match.start(), dim))
    for word, dim in ADVERBS.items():
        adverb = re.search(rf"\b{word}\b", text)
        if adverb:
            found.append((adverb.start(), dim))
    top = TOP_RE.search(text)
    if top:
        limit = int(top.group(2))
        direction = "asc" if top.group(1) == "bottom" else "desc"
        dim = _dimension(top.group(3), source) if top.group(3) else None
        if dim:
            found.append((top.start(), dim))
    if direction is None:
        desc, asc = DESC_RE.search(text), ASC_RE.search(text)
        if desc or asc:
            direction = "desc" if desc and (not asc or desc.start() < asc.start()) else "asc"
            if re.search(r"\b(which|what)\b", text) and not limit:
                limit = 1
    group_by = list(dict.fromkeys(dim for _, dim in sorted(found)))
    return group_by[:3], limit, direction


def _dimension(phrase: str | None, source: str) -> str | None:
    if not phrase:
        return None
    for pattern, by_source in DIMENSIONS:
        if re.fullmatch(pattern, phrase):
            return by_source.get(source)
    return None


# --- filters ------------------------------------------------------------------------------

def _filters(text: str, original: str, source: str, vocabulary: Vocabulary) -> list[list[Any]]:
    filters: list[list[Any]] = []

    def add(name: str, values: list[Any]) -> None:
        values = list(dict.fromkeys(values))
        if values:
            filters.append([name, "=", values[0]] if len(values) == 1 else [name, "in", values])

    model_ids = [m for m in vocabulary.model_ids if re.search(_model_pattern(m), text)]
    add("modelId", model_ids)
    for m in model_ids:  # "for lead scoring v1" is a model, not the object type "lead"
        text = re.sub(_model_pattern(m), " ", text)
    if source == "predictions":
        add("class", re.findall(r"\b(hot|warm|cold)\b", text))
        risks = re.findall(r"\b(high|medium|low)[ -]risk\b", text) + re.findall(r"\brisk (?:is |of |level )?(high|medium|low)\b", text)
        add("risk", risks)
        add("sentiment", re.findall(r"\b(positive|negative|neutral)\b", text))
        filters += _object_filters(text, original, vocabulary)
    if source in ("predictions", "metrics"):
        if re.search(r"\b(not cached|uncached|cache misses|without (?:the )?cache)\b", text):
            filters.append(["cached", "=", False])
        elif re.search(r"\b(cached|from (?:the )?cache|cache hits)\b", text):
            filters.append(["cached", "=", True])
        add("abArm", re.findall(r"\b(champion|challenger)\b(?! model)", text))
        if source == "predictions" and re.search(r"\bshadow\b", text):
            filters.append(["shadow", "=", True])
        add("provider", [PROVIDERS[p] for p in re.findall(r"\b(openai|aws-sagemaker|sagemaker|azure-ml|azure|custom|local)\b", text)])
    if source == "metrics":
        if re.search(r"\b(failed|failures?|unsuccessful)\b|\berrors?\b(?! codes?)", text):
            filters.append(["success", "=", False])
        elif re.search(r"\bsuccessful\b", text):
            filters.append(["success", "=", True])
        if re.search(r"\bexplanations?\b", text):
            filters.append(["kind", "=", "explanation"])
    if source == "models":
        if re.search(r"\b(?:ab tests?|ab testing|in an ab)\b", text):
            filters.append(["abEnabled", "=", True])
            text = re.sub(r"\bab testing\b", " ", text)
        add("status", re.findall(r"\b(active|inactive|testing|deprecated|training)\b", text))
        add("type", re.findall(r"\b(classification|regression|nlp|forecasting|recommendation)\b", text))
        add("provider", [PROVIDERS[p] for p in re.findall(r"\b(openai|aws-sagemaker|sagemaker|azure-ml|azure|custom|local)\b", text)])
    filters += _thresholds(text, source)
    return filters


def _model_pattern(model_id: str) -> str:
    parts = re.split(r"[-_]", model_id.lower())
    return r"(?<![\w-])" + r"[\s_-]+".join(map(re.escape, parts)) + r"(?![\w-])"


def _object_filters(text: str, original: str, vocabulary: Vocabulary) -> list[list[Any]]:
    filters: list[list[Any]] = []
    # Ids are taken from the question as typed (case kept); they only ever become bound values.
    match = re.search(r"\bobject[-_ ]?id\s*(?:=|is|:)?\s*(?:\"([^\"]*)\"|'(.*)'|(\S+))", original, re.IGNORECASE)
    if match:
        value = next(g for g in match.groups() if g is not None).rstrip("?.")
        filters.append(["objectId", "=", value[:200]])
    user = re.search(r"\b(?:for |by )?user(?:\s*id)?\s*(?:=|is|:)\s*(?:\"([^\"]*)\"|'(.*)'|(\S+))|\bfor user\s+(\S+)", original, re.IGNORECASE)
    if user:
        filters.append(["userId", "=", next(g for g in user.groups() if g is not None).rstrip("?.")[:200]])
    explicit = re.search(r"\bobject type\s*(?:=|is|:)\s*['\"]?([a-z][\w-]*)|\bobject type\s+['\"]([a-z][\w-]*)", text)
    if explicit:
        filters.append(["objectType", "=", explicit.group(1) or explicit.group(2)])
        return filters
    types = [t for t in vocabulary.object_types if t and re.search(
        rf"\b(?:for|of|on|about|from|with) (?:the |all |our )?{re.escape(t.lower())}s?(?![\w-])|\b{re.escape(t.lower())}s? objects?\b", text)]
    if types:
        filters.append(["objectType", "=", types[0]] if len(types) == 1 else ["objectType", "in", types])
    return filters


def _thresholds(text: str, source: str) -> list[list[Any]]:
    out = []
    for name, op, number in THRESHOLD_RE.findall(text):
        name = THRESHOLD_FIELDS.get(name, name)
        value = float(number) if "." in number else int(number)
        if (source, name) in {("predictions", "confidence"), ("predictions", "score"),
                              ("predictions", "probability"), ("metrics", "latency"),
                              ("metrics", "confidence"), ("models", "accuracy"),
                              ("models", "trafficPercentage")}:
            out.append([name, THRESHOLD_OPS[op], value])
    return out


# --- listings -------------------------------------------------------------------------------

def _is_listing(text: str, source: str, rate: Any) -> bool:
    if rate or COUNT_RE.search(text) or re.search(
        r"\b(average|avg|mean|median|p\d\d|percentile|sum|total|per|by|each|top|bottom|most|least|fewest|"
        r"highest|lowest|slowest|fastest|busiest|largest|smallest|max|min|maximum|minimum|daily|hourly|"
        r"weekly|monthly|distinct|unique)\b", text
    ):
        return False
    if re.search(r"\b(latest|most recent|recent|last \d+)\b", text):
        return True
    return bool(LIST_RE.search(text)) or source == "models"


def _listing(text: str, source: str) -> dict[str, Any]:
    count = re.search(r"\b(?:last|latest|recent|first|top) (\d{1,4})\b|\b(\d{1,4}) (?:latest|most recent|recent)\b", text)
    time_field = {"predictions": "createdAt", "metrics": "timestamp", "models": "modelId"}[source]
    order = "asc" if source == "models" else "desc"
    limit = int(count.group(1) or count.group(2)) if count else (None if source == "models" else 10)
    out: dict[str, Any] = {"fields": LISTING[source], "orderBy": [[time_field, order]]}
    if limit:
        out["limit"] = limit
    return out
