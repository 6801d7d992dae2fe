"""The admin: boards for staff who manage them; sessions, entries and the moderation log for moderators.
Changes go through services."""

from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import models
from django.http import HttpRequest
from django.template.response import TemplateResponse

from leaderboard import services
from leaderboard.admin_actions import moderate_with_reason
from leaderboard.errors import InvalidBoard
from leaderboard.models import Board, GameSession, LeaderboardEntry, ModerationLog
from leaderboard.pagination import EstimatedCountPaginator
from leaderboard.services.boards import check_board_definition
from users.models import User


class FastChangelist(admin.ModelAdmin):  # type: ignore[type-arg]
    """Changelists that stay quick at millions of rows: estimated counts, no full total."""

    paginator: ClassVar[type[Paginator]] = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50


class BoardForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Board
        fields = ("slug", "name", "game_mode", *Board.HISTORY_FIELDS[1:], "is_active")
        help_texts = {
            "game_mode": "Only sessions of this game mode count; leave empty for every mode.",
            "time_zone": "IANA name, e.g. Europe/Paris: periods reset at its local midnight.",
            "week_start": "Weekly boards: the local day each week starts on.",
            "is_active": "Untick to retire the board: it stops taking sessions, its standings stay readable.",
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:
            check_board_definition({k: v for k, v in cleaned.items() if k in Board.HISTORY_FIELDS})
        except InvalidBoard as exc:
            raise forms.ValidationError(exc.message) from exc
        return cleaned


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = BoardForm
    list_display = ("slug", "name", "game_mode", "aggregation", "order", "window", "time_zone", "is_active")
    list_filter = ("window", "aggregation", "order", "is_active")
    search_fields = ("slug", "name")
    fields = BoardForm.Meta.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # What a board counts, and how, is fixed once it exists: its entries were made that way.
        return ("slug", *Board.HISTORY_FIELDS) if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Board, form: Any, change: bool) -> None:
        if change:
            services.update_board(board_id=obj.pk, name=obj.name, is_active=obj.is_active)
            return
        created = services.create_board(
            slug=obj.slug,
            name=obj.name,
            game_mode=obj.game_mode,
            aggregation=obj.aggregation,
            order=obj.order,
            window=obj.window,
            time_zone=obj.time_zone,
            week_start=obj.week_start,
            is_active=obj.is_active,
        )
        obj.pk = created.pk
        messages.info(
            request,
            f"Sessions count on {created.slug} from now on. To count earlier sessions too, run "
            f"`manage.py rebuild_board {created.slug}` (safe while scores keep arriving).",
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # retire a board instead: its standings stay readable


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
    list_display = ("username", "board", "period", "total_score", "session_count", "last_updated")
    list_filter = ("board",)
    search_fields = ("user__username__startswith",)
    search_help_text = "Players whose username starts with... (the first 1,000 matching players)"
    list_select_related = ("board",)
    # The listing order, served by the entry_listing_order index.
    ordering = ("board_id", "period", "-rank_value", "last_updated", "user_id")
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
