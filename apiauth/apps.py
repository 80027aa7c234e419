from django.apps import AppConfig


class ApiauthConfig(AppConfig):
    name = "apiauth"
    verbose_name = "API tokens"

    def ready(self) -> None:
        from hotcrm_ai import openapi  # noqa: F401  registers the token scheme with drf-spectacular
