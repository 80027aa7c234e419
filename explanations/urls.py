"""API routes of the explanations app."""

urlpatterns: list = []
