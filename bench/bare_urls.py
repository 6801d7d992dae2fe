"""One bare DRF APIView: no middleware, authentication, permissions or throttles; what DRF itself costs."""

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class BareView(APIView):
    # Left empty on purpose: the app's defaults would read the API key table and Redis.
    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


urlpatterns = [path("bare", BareView.as_view(), name="bare")]
