from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from visitors.api.ops import HealthView, metrics
from visitors.dashboard import dashboard_view, kiosk_view

admin.site.site_header = "Library Dashboard administration"
admin.site.site_title = "Library Dashboard admin"
admin.site.index_title = "Visitor data"

urlpatterns = [
    path("api/", include("visitors.api.urls")),
    path("docs/json", SpectacularJSONAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("docs/", RedirectView.as_view(pattern_name="swagger-ui", permanent=True)),
    path("admin/", admin.site.urls),
    path("health", HealthView.as_view(), name="health"),
    path("metrics", metrics, name="metrics"),
    path("kiosk", kiosk_view, name="kiosk"),
    path("jsi18n", JavaScriptCatalog.as_view(packages=["visitors"]), name="javascript-catalog"),
    path("", dashboard_view, name="dashboard"),
]

# JSON errors under /api/ (HTML elsewhere): see visitors.api.exceptions.
handler400 = "visitors.api.exceptions.bad_request"
handler404 = "visitors.api.exceptions.not_found"
handler500 = "visitors.api.exceptions.server_error"
