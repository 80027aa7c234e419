from django.apps import AppConfig


class ApiauthConfig(AppConfig):
    name = "apiauth"
    verbose_name = "API tokens"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from apiauth.models import ApiToken
        from apiauth.signals import token_changed

        # Signals, not services: a token changed by any path (admin, shell, service) must
        # drop the cached copies that authenticate requests.
        post_save.connect(token_changed, sender=ApiToken, dispatch_uid="apiauth-token-saved")
        post_delete.connect(token_changed, sender=ApiToken, dispatch_uid="apiauth-token-deleted")

        from hotcrm_ai import openapi  # noqa: F401  registers the token scheme with drf-spectacular
