"""Players in the admin: prefix search, and hiding cheaters through the moderation services."""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import models
from django.http import HttpRequest
from django.template.response import TemplateResponse

from leaderboard import services
from leaderboard.admin import FastChangelist
from leaderboard.admin_actions import moderate_with_reason
from users.models import User


@admin.register(User)
class PlayerAdmin(FastChangelist, UserAdmin):  # type: ignore[type-arg]
    list_display = ("username", "email", "date_joined", "is_hidden", "is_staff")
    list_filter = ("is_hidden", "is_staff", "is_active")
    # A prefix search uses the users_username_prefix index; "contains" would scan every row.
    search_fields = ("username__startswith",)
    search_help_text = "Username starts with..."
    ordering = ("username",)
    readonly_fields = ("is_hidden",)
    fieldsets = (*UserAdmin.fieldsets, ("Moderation", {"fields": ("is_hidden",)}))  # type: ignore[misc]
    actions = ("hide_players", "restore_players")

    @admin.action(description="Hide selected players (cheaters)", permissions=["change"])
    def hide_players(self, request: HttpRequest, queryset: models.QuerySet[User]) -> TemplateResponse | None:
        return moderate_with_reason(
            self,
            request,
            queryset,
            title="Hide players",
            apply=lambda p, **kw: services.hide_player(user_id=p.pk, **kw),
        )

    @admin.action(description="Restore selected hidden players", permissions=["change"])
    def restore_players(
        self, request: HttpRequest, queryset: models.QuerySet[User]
    ) -> TemplateResponse | None:
        return moderate_with_reason(
            self,
            request,
            queryset,
            title="Restore players",
            apply=lambda p, **kw: services.restore_player(user_id=p.pk, **kw),
        )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Deleting a player would drop their entries behind the services' back.
        actions.pop("delete_selected", None)
        return actions
