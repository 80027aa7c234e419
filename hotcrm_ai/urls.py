from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apiauth.permissions import dashboard_required

api_v1 = [
    path("", include("registry.urls")),
    path("", include("predictions.urls")),
    path("", include("explanations.urls")),
    path("", include("monitoring.api_urls")),
    path("", include("reporting.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # A page for people: log in (admin) first; the page then reads the schema with that session.
    # The split view serves its script from a URL: the CSP allows no inline script.
    path("api/docs/", dashboard_required(SpectacularSwaggerSplitView.as_view(url_name="schema"),
                                         login_url="/admin/login/"), name="docs"),
    path("admin/", admin.site.urls),
    path("dashboard/ask/", include("reporting.page_urls")),
    path("", include("monitoring.urls")),
]

handler404 = "hotcrm_ai.errors.json_404"
handler500 = "hotcrm_ai.errors.json_500"
handler400 = "hotcrm_ai.errors.json_400"
