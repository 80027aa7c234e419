"""Routes of monitoring outside the API: /healthz, /metrics, /dashboard/."""

urlpatterns: list = []
