"""API routes of the reporting app."""

urlpatterns: list = []
