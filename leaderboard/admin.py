"""Moderators' admin: sessions, entries and the moderation log; changes go through services."""

from typing import Any, ClassVar

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import models
from django.http import HttpRequest
from django.template.response import TemplateResponse

from leaderboard import services
from leaderboard.admin_actions import moderate_with_reason
from leaderboard.models import GameSession, LeaderboardEntry, ModerationLog
from leaderboard.pagination import EstimatedCountPaginator
from users.models import User


class FastChangelist(admin.ModelAdmin):  # type: ignore[type-arg]
    """Changelists that stay quick at millions of rows: estimated counts, no full total."""

    paginator: ClassVar[type[Paginator]] = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50


@admin.register(GameSession)
class GameSessionAdmin(FastChangelist):
    list_display = ("id", "user", "score", "game_mode", "played_at", "is_void", "is_flagged", "flag_reason")
    list_filter = ("is_void", "is_flagged", ("played_at", admin.DateFieldListFilter))
    search_fields = ("user__username__startswith",)
    search_help_text = "Sessions of players whose username starts with..."
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    ordering = ("-id",)  # the primary key index; played_at order would need a sort
    readonly_fields = ("user", "score", "game_mode", "played_at", "is_void", "is_flagged", "flag_reason")
    actions = ("void_sessions", "restore_sessions")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # sessions come from game servers through the API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a session is never edited by hand; voiding has its own permission

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.moderate_session")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # history is append-only: void instead

    @admin.action(description="Void selected sessions", permissions=["moderate"])
    def void_sessions(
        self, request: HttpRequest, queryset: models.QuerySet[GameSession]
    ) -> TemplateResponse | None:
        return moderate_with_reason(
            self,
            request,
            queryset,
            title="Void sessions",
            apply=lambda s, **kw: services.void_session(session_id=s.pk, **kw),
        )

    @admin.action(description="Restore selected sessions", permissions=["moderate"])
    def restore_sessions(
        self, request: HttpRequest, queryset: models.QuerySet[GameSession]
    ) -> TemplateResponse | None:
        return moderate_with_reason(
            self,
            request,
            queryset,
            title="Restore sessions",
            apply=lambda s, **kw: services.restore_session(session_id=s.pk, **kw),
        )


@admin.register(LeaderboardEntry)
class LeaderboardEntryAdmin(FastChangelist):
    list_display = ("username", "board", "total_score", "session_count", "last_updated")
    list_filter = ("board",)
    search_fields = ("user__username__startswith",)
    search_help_text = "Players whose username starts with... (the first 1,000 matching players)"
    list_select_related = ("board",)
    # The listing order, served by the entry_board_listing_order index.
    ordering = ("board_id", "-total_score", "last_updated", "user_id")
    search_player_limit = 1000

    def get_search_results(
        self, request: HttpRequest, queryset: models.QuerySet[LeaderboardEntry], search_term: str
    ) -> tuple[models.QuerySet[LeaderboardEntry], bool]:
        # Players first through the prefix index, then their entries by (board, user): joining
        # in listing order instead can walk much of the board for a common prefix.
        term = search_term.strip()
        if not term:
            return queryset, False
        players = User.objects.filter(username__startswith=term).values("id")[: self.search_player_limit]
        return queryset.filter(user_id__in=players), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # entries are derived from sessions

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ModerationLog)
class ModerationLogAdmin(FastChangelist):
    list_display = ("created_at", "action", "target_user", "session", "moderator", "reason")
    list_filter = ("action",)
    search_fields = ("target_user__username__startswith",)
    search_help_text = "Actions on players whose username starts with..."
    list_select_related = ("target_user", "moderator", "session")
    ordering = ("-id",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # written by the moderation services only

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
