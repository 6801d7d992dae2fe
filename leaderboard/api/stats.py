"""Operational figures for staff."""

from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from leaderboard import selectors
from leaderboard.api import serializers
from leaderboard.api.auth import StaffBasicAuthentication
from leaderboard.api.common import ApiView
from leaderboard.api.schema import ERROR_HEADERS, error_responses


class StatsApi(ApiView):
    """Operational figures for staff: where ranks come from and how well the cache does."""

    # Basic first: DRF challenges a 401 with the first class's WWW-Authenticate (Session has none: 403).
    authentication_classes = [StaffBasicAuthentication, SessionAuthentication]
    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="get_stats",
        summary="Operational figures for staff (admin login or HTTP Basic, not an API key)",
        parameters=ERROR_HEADERS,
        responses={200: serializers.StatsOutput, **error_responses(401, 403, 429, 503)},
    )
    def get(self, request: Request) -> Response:
        return Response(serializers.StatsOutput(selectors.get_stats()).data)
