from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "predictions"

    def ready(self) -> None:
        from predictions import shadow  # noqa: F401  connects the after-response signals
