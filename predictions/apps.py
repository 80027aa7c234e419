from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "predictions"

    def ready(self) -> None:
        from predictions import recording  # noqa: F401  registers the prediction log buffer
