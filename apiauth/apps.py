from django.apps import AppConfig


class ApiauthConfig(AppConfig):
    name = "apiauth"
    verbose_name = "API tokens"
