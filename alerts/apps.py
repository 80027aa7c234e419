from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        # Registered in every process, so services can queue deliveries by task name.
        import alerts.tasks  # noqa: F401
        from alerts.metrics import FiringIncidentsCollector
        from monitoring.prometheus import register_collector

        register_collector(FiringIncidentsCollector())
