from django.urls import re_path

from leaderboard import api

# The compatible paths are matched with or without a trailing slash: existing clients use both.
compatible_urlpatterns = [
    re_path(r"^submit/?$", api.SubmitScoreApi.as_view(), name="api-submit"),
    re_path(r"^top/?$", api.TopPlayersApi.as_view(), name="api-top"),
    re_path(r"^rank/(?P<user_id>[^/]+)/?$", api.PlayerRankApi.as_view(), name="api-rank"),
]

v1_urlpatterns = [
    re_path(r"^players/?$", api.RegisterPlayerApi.as_view(), name="api-v1-players"),
    re_path(r"^players/(?P<user_id>[^/]+)/?$", api.PlayerDetailApi.as_view(), name="api-v1-player"),
    re_path(r"^players/(?P<user_id>[^/]+)/following/?$", api.FollowingApi.as_view(), name="api-v1-following"),
    re_path(
        r"^players/(?P<user_id>[^/]+)/following/(?P<followed_id>[^/]+)/?$",
        api.FollowApi.as_view(),
        name="api-v1-follow",
    ),
    re_path(r"^stats/?$", api.StatsApi.as_view(), name="api-v1-stats"),
]
