"""`/metrics` for Prometheus: a bearer token (METRICS_TOKEN) or a logged-in staff user, never open."""

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from leaderboard import metrics


def _has_token(request: HttpRequest) -> bool:
    expected = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    user = getattr(request, "user", None)
    if not (_has_token(request) or (user is not None and user.is_active and user.is_staff)):
        return JsonResponse(
            {
                "error": {
                    "code": "forbidden",
                    "message": "Metrics need the bearer token of METRICS_TOKEN or a staff login.",
                    "fields": {},
                }
            },
            status=403,
        )
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
