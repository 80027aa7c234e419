from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self) -> None:
        from monitoring import services  # noqa: F401  registers the metric buffer
        from monitoring.circuits import CircuitStateCollector
        from monitoring.prometheus import register_collector

        register_collector(CircuitStateCollector())
