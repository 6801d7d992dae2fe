from django.urls import re_path

from leaderboard.api import boards, compatible, players, scores, stats

# The compatible paths are matched with or without a trailing slash: existing clients use both.
compatible_urlpatterns = [
    re_path(r"^submit/?$", scores.SubmitScoreApi.as_view(), name="api-submit"),
    re_path(r"^top/?$", compatible.TopPlayersApi.as_view(), name="api-top"),
    re_path(r"^rank/(?P<user_id>[^/]+)/?$", compatible.PlayerRankApi.as_view(), name="api-rank"),
]

v1_urlpatterns = [
    re_path(r"^players/?$", players.RegisterPlayerApi.as_view(), name="api-v1-players"),
    re_path(r"^players/(?P<user_id>[^/]+)/?$", players.PlayerDetailApi.as_view(), name="api-v1-player"),
    re_path(
        r"^players/(?P<user_id>[^/]+)/following/?$", players.FollowingApi.as_view(), name="api-v1-following"
    ),
    re_path(
        r"^players/(?P<user_id>[^/]+)/following/(?P<followed_id>[^/]+)/?$",
        players.FollowApi.as_view(),
        name="api-v1-follow",
    ),
    re_path(
        r"^players/(?P<user_id>[^/]+)/standings/?$",
        boards.PlayerStandingsApi.as_view(),
        name="api-v1-player-standings",
    ),
    re_path(r"^boards/?$", boards.BoardListApi.as_view(), name="api-v1-boards"),
    re_path(r"^boards/(?P<slug>[^/]+)/?$", boards.BoardDetailApi.as_view(), name="api-v1-board"),
    re_path(r"^boards/(?P<slug>[^/]+)/top/?$", boards.BoardTopApi.as_view(), name="api-v1-board-top"),
    re_path(
        r"^boards/(?P<slug>[^/]+)/players/(?P<user_id>[^/]+)/?$",
        boards.BoardPlayerApi.as_view(),
        name="api-v1-board-player",
    ),
    re_path(
        r"^boards/(?P<slug>[^/]+)/players/(?P<user_id>[^/]+)/around/?$",
        boards.BoardAroundApi.as_view(),
        name="api-v1-board-around",
    ),
    re_path(
        r"^boards/(?P<slug>[^/]+)/players/(?P<user_id>[^/]+)/friends/?$",
        boards.BoardFriendsApi.as_view(),
        name="api-v1-board-friends",
    ),
    re_path(r"^sessions/batch/?$", scores.SubmitBatchApi.as_view(), name="api-v1-sessions-batch"),
    re_path(r"^stats/?$", stats.StatsApi.as_view(), name="api-v1-stats"),
]
