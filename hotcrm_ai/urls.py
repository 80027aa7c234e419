from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apiauth.permissions import dashboard_required
from predictions.v2_apis import V2ServerApi

api_v1 = [
    path("", include("registry.urls")),
    path("", include("predictions.urls")),
    path("", include("explanations.urls")),
    path("", include("monitoring.api_urls")),
    path("", include("reporting.urls")),
    path("", include("alerts.urls")),
    path("", include("jobs.urls")),
    path("", include("privacy.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("v2", V2ServerApi.as_view()),  # the Open Inference Protocol (KServe V2)
    path("v2/", include("predictions.v2_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # A page for people: log in (admin) first; the page then reads the schema with that session.
    # The split view serves its script from a URL: the CSP allows no inline script.
    path("api/docs/", dashboard_required(SpectacularSwaggerSplitView.as_view(url_name="schema"),
                                         login_url="/admin/login/"), name="docs"),
    path("admin/", admin.site.urls),
    path("dashboard/ask/", include("reporting.page_urls")),
    path("dashboard/jobs/", include("jobs.page_urls")),
    path("", include("monitoring.urls")),
]

handler404 = "hotcrm_ai.errors.json_404"
handler500 = "hotcrm_ai.errors.json_500"
handler400 = "hotcrm_ai.errors.json_400"
