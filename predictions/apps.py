from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "predictions"

    def ready(self) -> None:
        from core.objects import register_rows
        from predictions import recording  # noqa: F401  registers the prediction log buffer
        from predictions.models import PredictionLog

        register_rows(PredictionLog)  # erased with the object it names (core/objects.py)
