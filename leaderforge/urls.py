from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from leaderboard.api.urls import compatible_urlpatterns, v1_urlpatterns
from leaderforge.health import healthz, readyz
from leaderforge.metrics_view import metrics_view

urlpatterns = [
    path("api/leaderboard/", include(compatible_urlpatterns)),
    path("api/v1/", include(v1_urlpatterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: the Content-Security-Policy forbids inline ones.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("leaderboard.urls")),
]

handler400 = "leaderforge.errors.bad_request"
handler404 = "leaderforge.errors.not_found"
handler500 = "leaderforge.errors.server_error"
