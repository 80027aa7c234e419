"""What writing prediction-log rows costs, in CPU per row (not wall time: the machine is shared).

    .venv/bin/python bench/logwrite.py write [ROWS]     # the whole write, client + database
    .venv/bin/python bench/logwrite.py copy [ROWS] [PREFILL]   # PostgreSQL: COPY cost per table shape

`write`: 1,000-row batches (the synchronous batch endpoint's size) of realistic lead rows,
stored the old way (LogRow tuples, `core.write_behind.insert_rows`: per-value preparation and
one executemany) and the new ways (LogRow tuples turned into columns, and columns handed over
directly, then the log buffer's flush: COPY / one executemany). Client CPU is this process's
(time.process_time); on PostgreSQL the server backend's CPU is read from /proc/<pid>/stat
(`select pg_backend_pid()`; the server runs on this machine). On SQLite the database is in
process. JSON serialisation of the columnar path is counted (the request does it).

`copy`: PostgreSQL backend CPU of one COPY of ROWS rows into scratch tables shaped like the
log (jsonb or json documents, today's indexes or fewer), each first filled with PREFILL rows
so index inserts land in indexes of a realistic size. The scratch tables are dropped after.

Uses DATABASE_URL when set, else SQLite under bench/.work/var-logwrite.
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[0] = str(BENCH.parent)

from bench import run  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
OBJECT_TYPE = "bench-logwrite"  # this bench's rows (deleted between steps), never another's
INDUSTRIES = ["Technology", "Finance", "Healthcare", "Retail", "Manufacturing", "Education"]
TITLES = ["VP Sales", "CEO", "Engineer", "Marketing Manager", "CTO", "Analyst"]


def backend_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) the PostgreSQL backend `pid` has used; 0 without one."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def lead_rows(n: int, start: int, rng: random.Random) -> tuple[list[dict], list[dict], list[float]]:
    features = [{"company_size": rng.randint(1, 20_000), "industry": rng.choice(INDUSTRIES),
                 "engagement_score": rng.randint(0, 100), "job_title": rng.choice(TITLES),
                 "budget": float(rng.randint(0, 500_000))} for _ in range(n)]
    scores = [round(rng.uniform(0, 100), 2) for _ in range(n)]
    values = [{"score": s, "class": "hot" if s >= 70 else "warm" if s >= 40 else "cold"} for s in scores]
    return features, values, scores


def batch_rows(n: int, start: int, rng: random.Random, when):
    """One request's rows as LogRow tuples, as predictions.services.record builds them."""
    from predictions.ids import new_prediction_ids
    from predictions.recording import LogRow, log_label

    features, values, scores = lead_rows(n, start, rng)
    return [LogRow(id=i, model_id="lead-scoring-v1", model_version="1.0.0", requested_model_id="lead-scoring-v1",
                   ab_arm="", provider="local", features=f, prediction=v, label=log_label(v), confidence=s,
                   cached=False, shadow=False, user_id="", object_type=OBJECT_TYPE, object_id=f"L-{start + k}",
                   created_at=when, actual=None, feedback_at=None)
            for k, (i, f, v, s) in enumerate(zip(new_prediction_ids(n), features, values, scores, strict=True))]


def batch_columns(n: int, start: int, rng: random.Random, when):
    """One request's rows as LogColumns, JSON written here (the request's cost)."""
    from predictions.ids import new_prediction_ids
    from predictions.recording import LogColumns, json_texts, log_label

    features, values, scores = lead_rows(n, start, rng)
    return LogColumns(
        ids=new_prediction_ids(n), model_ids=["lead-scoring-v1"] * n, versions=["1.0.0"] * n, arms=[""] * n,
        providers=["local"] * n, features=json_texts(features), predictions=json_texts(values),
        labels=[log_label(v) for v in values], confidences=scores, cached=[False] * n, shadow=[False] * n,
        object_types=[OBJECT_TYPE] * n, object_ids=[f"L-{start + k}" for k in range(n)],
        requested_model_id="lead-scoring-v1", created_at=when, user_ids=None,
    )


def measure_write(rows: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from core.write_behind import insert_rows
    from predictions.models import PredictionLog
    from predictions.recording import _FIELDS, log_buffer, prediction_logs_record, prediction_logs_record_columns

    buffer = log_buffer()
    buffer.synchronous = False
    pid = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("select pg_backend_pid()")
            pid = cursor.fetchone()[0]
    print(f"{connection.vendor}: {rows:,} rows in 1,000-row batches; load {run.load_average()}")

    def old(k: int, rng: random.Random) -> None:
        # Before: what LogBuffer.store did with a request's LogRow tuples.
        insert_rows(PredictionLog, _FIELDS, batch_rows(1000, k, rng, timezone.now()), durable=False)

    def rows_to_columns(k: int, rng: random.Random) -> None:
        prediction_logs_record(batch_rows(1000, k, rng, timezone.now()))
        buffer.flush()

    def columns(k: int, rng: random.Random) -> None:
        prediction_logs_record_columns(batch_columns(1000, k, rng, timezone.now()))
        buffer.flush()

    def generate_only(k: int, rng: random.Random) -> None:  # the rows' own making, subtracted
        batch_rows(1000, k, rng, timezone.now())

    def generate_columns_only(k: int, rng: random.Random) -> None:  # the raw values: subtracted
        from predictions.ids import new_prediction_ids

        lead_rows(1000, k, rng)
        new_prediction_ids(1000)

    results = {}
    for name, step in [("make LogRow rows only", generate_only), ("make raw values only", generate_columns_only),
                       ("old: LogRow -> insert_rows", old), ("new: LogRow -> columns -> bulk", rows_to_columns),
                       ("new: columns (JSON by caller) -> bulk", columns)]:
        PredictionLog.objects.filter(object_type=OBJECT_TYPE)._raw_delete(PredictionLog.objects.db)
        rng = random.Random(17)
        client, server = time.process_time(), backend_cpu(pid)
        for k in range(0, rows, 1000):
            step(k, rng)
        client, server = time.process_time() - client, backend_cpu(pid) - server
        results[name] = (client, server)
        print(f"  {name:40s} client {client / rows * 1e6:6.1f} us/row  server {server / rows * 1e6:6.1f} us/row"
              f"  total {(client + server) / rows * 1e6:6.1f} us/row")
    PredictionLog.objects.filter(object_type=OBJECT_TYPE)._raw_delete(PredictionLog.objects.db)
    print(f"  load {run.load_average()}")


# --- COPY cost per table shape (PostgreSQL) ------------------------------------------------

# (name, documents type, index DDL with {t} for the table)
TODAY = ["CREATE INDEX ON {t} (created_at)", "CREATE INDEX ON {t} (model_id, created_at DESC)",
         "CREATE INDEX ON {t} (object_type, object_id)",
         "CREATE INDEX ON {t} (model_id, created_at) WHERE actual IS NOT NULL"]
SHAPES = [
    ("jsonb, no index at all (no pk)", "jsonb", None),
    ("json, no index at all (no pk)", "json", None),
    ("json features + jsonb prediction, no index", "mixed", None),
    ("jsonb, pk only", "jsonb", []),
    ("jsonb, pk + created_at btree", "jsonb", TODAY[:1]),
    ("jsonb, pk + created_at BRIN", "jsonb", ["CREATE INDEX ON {t} USING brin (created_at)"]),
    ("jsonb, pk + (model_id, created_at desc)", "jsonb", TODAY[1:2]),
    ("jsonb, pk + (object_type, object_id)", "jsonb", TODAY[2:3]),
    ("jsonb, pk + outcomes partial", "jsonb", TODAY[3:]),
    ("today: jsonb, pk + created_at + model_time + object + outcomes", "jsonb", TODAY),
    ("jsonb, today with created_at as BRIN", "jsonb", ["CREATE INDEX ON {t} USING brin (created_at)", *TODAY[1:]]),
]


def measure_copy(rows: int, prefill: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from predictions.recording import _FIELDS, _rows

    if connection.vendor != "postgresql":
        sys.exit("copy: PostgreSQL only (DATABASE_URL)")
    print(f"COPY of {rows:,} log rows into tables holding {prefill:,}; load {run.load_average()}")
    rng = random.Random(17)
    start = timezone.now() - timedelta(days=1)
    # The rows as COPY text, made once: each table is loaded from the same bytes.
    import psycopg

    def dump(n: int, first: int, when) -> bytes:
        out = bytearray()
        for k in range(0, n, 5000):
            logs = batch_columns(min(5000, n - k), first + k, rng, when + timedelta(seconds=k / 1000))
            for row in _rows(logs, ids=logs.ids, created_at=logs.created_at):
                out += _copy_line(row)
        return bytes(out)

    fill, timed = dump(prefill, 0, start), dump(rows, prefill, start + timedelta(hours=12))
    print(f"  {len(timed) / rows:.0f} bytes/row")
    columns = ", ".join(f.column for f in _FIELDS)
    with psycopg.connect(_dsn(connection), autocommit=True) as raw:
        pid = raw.execute("select pg_backend_pid()").fetchone()[0]
        for name, kind, indexes in SHAPES:
            table = "bench_logwrite"
            raw.execute(f"DROP TABLE IF EXISTS {table}")
            raw.execute(f"CREATE TABLE {table} (LIKE predictions_predictionlog INCLUDING DEFAULTS)")
            if kind in ("json", "mixed"):
                raw.execute(f"ALTER TABLE {table} ALTER features TYPE json")
            if kind == "json":
                raw.execute(f"ALTER TABLE {table} ALTER prediction TYPE json, ALTER actual TYPE json")
            if indexes is not None:
                raw.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
                for ddl in indexes:
                    raw.execute(ddl.format(t=table))
            _copy_bytes(raw, table, columns, fill)
            raw.execute(f"VACUUM ANALYZE {table}")
            best = None
            for _ in range(3):  # the best of three (another engineer's burst lands in one)
                # Rolled back, so both runs load into the same table (a rollback costs little).
                raw.execute("BEGIN")
                before = backend_cpu(pid)
                _copy_bytes(raw, table, columns, timed)
                cost = backend_cpu(pid) - before
                raw.execute("ROLLBACK")
                best = cost if best is None else min(best, cost)
            print(f"  {name:66s} {best / rows * 1e6:5.1f} us/row")
        raw.execute("DROP TABLE IF EXISTS bench_logwrite")
    print(f"  load {run.load_average()}")


def _dsn(connection) -> str:
    s = connection.settings_dict
    return f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432} dbname={s['NAME']} user={s['USER']}"


def _copy_line(row: tuple) -> bytes:
    out = []
    for v in row:
        if v is None:
            out.append("\\N")
        elif isinstance(v, bool):
            out.append("t" if v else "f")
        else:
            out.append(str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r"))
    return ("\t".join(out) + "\n").encode()


def _copy_bytes(raw, table: str, columns: str, data: bytes) -> None:
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for i in range(0, len(data), 1 << 20):
            copy.write(data[i:i + (1 << 20)])


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "write"
    env = run.service_env(quick=False, var_dir=run.WORK / "var-logwrite")
    run.WORK.mkdir(exist_ok=True)
    run.setup_django(env)
    if what == "write":
        measure_write(int(sys.argv[2]) if len(sys.argv) > 2 else 50_000)
    elif what == "copy":
        measure_copy(int(sys.argv[2]) if len(sys.argv) > 2 else 200_000,
                     int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
