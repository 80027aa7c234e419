"""The environment a bench runs its service processes in (gunicorn, Celery workers, `python -c`
children, and the bench's own Django through bench.run.setup_django): one set-up for every
bench instead of a copy in each.

With DATABASE_URL / REDIS_URL set they are used (production layout); otherwise the embedded
default (SQLite, in-process cache, filesystem broker) lives in the bench's own var dir, which
starts every run without a database so that runs compare. A HOTCRM_VAR_DIR or SECRET_KEY the
caller set is kept as it is (and their database is never removed); the cache and queue key
prefix is the caller's CACHE_KEY_PREFIX with the bench's name and process id added, so a
bench's Celery workers never take the tasks of a service or test run sharing that Redis.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"


def bench_env(name: str, var_dir: Path | None = None) -> tuple[dict[str, str], Path]:
    """(env, work) for the bench `name`.

    work is `var_dir` (kept between runs, e.g. bench/.work/var-jobs) or, without one, a new
    temp dir the caller removes when done; it is HOTCRM_VAR_DIR unless the caller set one.
    A bench's own var dir is emptied of an earlier run's embedded database and broker queues.

    SECRET_KEY (unless the caller set it or HOTCRM_VAR_DIR): one for every bench, the project's
    var/secret_key (the one `make run` uses) or else bench/.work/secret_key, made once. The
    built-in models' artifacts in a reused DATABASE_URL are signed with it: a key of each
    bench's own (or a new one each run) could not load what another run trained, and every
    prediction failed (builtin_models_ready retrains such models).
    """
    if var_dir is None:
        work = Path(tempfile.mkdtemp(prefix=f"hotcrm-{name}-"))
    else:
        work = var_dir
        work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ) | {"PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "hotcrm_ai.settings"}
    env["CACHE_KEY_PREFIX"] = f"{os.environ.get('CACHE_KEY_PREFIX') or 'hotcrm'}-{name}-{os.getpid()}"
    # The benches measure speed, not the per-token rate limit (apiauth/throttling.py).
    env.setdefault("THROTTLE_RATE", "1000000000/day")
    if not os.environ.get("HOTCRM_VAR_DIR"):
        env["HOTCRM_VAR_DIR"] = str(work)
        if not env.get("DATABASE_URL"):
            for leftover in work.glob("db.sqlite3*"):
                leftover.unlink()
            for kept_per_prefix in ("celery", "limits"):  # see hotcrm_ai/settings.py
                shutil.rmtree(work / kept_per_prefix, ignore_errors=True)
        if not env.get("SECRET_KEY"):
            env["SECRET_KEY"] = _kept_secret_key()
    return env, work


def _kept_secret_key() -> str:
    project = ROOT / "var" / "secret_key"
    if project.exists():
        return project.read_text().strip()
    path = WORK / "secret_key"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        # as hotcrm_ai/settings.py makes its own under var/
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def builtin_models_ready() -> None:
    """Inside the bench's Django: migrate, train the built-in models not yet registered, and
    retrain those whose stored artifact this SECRET_KEY cannot load (trained by a run under
    another key in a reused DATABASE_URL)."""
    from django.core.management import call_command

    from ml.artifacts import ArtifactError
    from ml.builtin.training import CATALOG
    from predictions.providers.local import LocalProvider
    from registry.models import MLModel

    call_command("migrate", verbosity=0, interactive=False)
    call_command("train_builtin_models", if_missing=True, verbosity=0)
    unreadable = []
    for model in MLModel.objects.filter(pk__in=list(CATALOG)).order_by("pk"):
        try:
            LocalProvider().predictor(model)
        except ArtifactError:
            unreadable.append(model.pk)
    if unreadable:
        print(f"retraining {', '.join(unreadable)}: signed under another SECRET_KEY", flush=True)
        call_command("train_builtin_models", only=unreadable, verbosity=0)
