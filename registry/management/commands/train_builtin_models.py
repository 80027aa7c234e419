from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ml.builtin.training import CATALOG
from registry.services import (
    builtin_ab_settings_apply,
    builtin_model_train,
    builtin_models_missing,
    model_train_from_csv,
)


class Command(BaseCommand):
    help = (
        "Train the built-in models on deterministic synthetic CRM data, measure them on "
        "held-out rows and register them; or, with --csv and --model, retrain one model from "
        "your own CSV and register it as a new version in status 'testing'."
    )

    def add_arguments(self, parser):
        parser.add_argument("--if-missing", action="store_true", help="Only train models not yet registered.")
        parser.add_argument("--only", nargs="*", choices=sorted(CATALOG), help="Train only these.")
        parser.add_argument("--csv", help="A CSV of your own: the model's features and its label column.")
        parser.add_argument("--model", help="With --csv: the built-in model to retrain.")

    def handle(self, *args, if_missing, only, csv, model, **options):
        if csv or model:
            if not (csv and model):
                raise CommandError("--csv and --model go together.")
            try:
                new = model_train_from_csv(base_model_id=model, path=csv)
            except (ValueError, OSError) as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"Registered {new.id} (version {new.version}, status {new.status}): {new.metrics}")
            return
        targets = only or list(CATALOG)
        if if_missing:
            missing = set(builtin_models_missing())
            targets = [t for t in targets if t in missing]
        started = time.monotonic()
        with tqdm(total=len(targets) * 100, desc="training", unit="%", disable=not targets) as bar:
            for model_id in targets:
                done = {"n": 0}

                def progress(step: int, total: int, message: str, _done=done, _id=model_id) -> None:
                    target = int(100 * step / max(total, 1))
                    bar.set_postfix_str(f"{_id}: {message}")
                    bar.update(max(0, target - _done["n"]))
                    _done["n"] = max(_done["n"], target)

                builtin_model_train(model_id=model_id, progress=progress)
                bar.update(100 - done["n"])
        builtin_ab_settings_apply()
        self.stdout.write(
            f"Trained {len(targets)} built-in model(s) in {time.monotonic() - started:.1f} s"
            + (f": {', '.join(targets)}" if targets else " (all were registered already)")
        )
