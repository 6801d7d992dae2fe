from django.urls import path

from leaderboard import views

urlpatterns = [
    path("", views.home, name="home"),
    path("players/search/", views.player_search, name="player-search"),
    path("players/<int:user_id>/", views.player_detail, name="player"),
    path("players/by-name/<str:username>/", views.player_by_name, name="player-by-name"),
    path("staff/health/", views.health, name="staff-health"),
]
