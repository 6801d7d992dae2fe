"""Players in the admin: prefix search, hiding cheaters and renames through the services.

Only superusers manage accounts (add, delete, passwords, staff flags, groups, permissions); other
staff moderate, and whatever "change" a studio grants them stops short of those fields.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest
from django.template.response import TemplateResponse

from leaderboard import services
from leaderboard.admin import FastChangelist
from leaderboard.admin_actions import moderate_with_reason
from leaderboard.errors import LeaderboardError
from users import services as user_services
from users import usernames
from users.models import User

# Each of these leads to more power than moderation: only a superuser sets them.
PRIVILEGE_FIELDS = ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")


class _UsernameRules:
    """The username rules of users.usernames in the admin's forms, as a field error."""

    instance: User
    cleaned_data: dict[str, Any]

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if self.instance.pk and username == self.instance.username:
            return str(username)  # unchanged: a name from before the rules keeps working
        try:
            return user_services.check_username_available(username=username, user_id=self.instance.pk)
        except LeaderboardError as exc:
            raise forms.ValidationError(exc.message) from exc


class PlayerChangeForm(_UsernameRules, UserChangeForm):  # type: ignore[type-arg]
    pass


class PlayerCreationForm(_UsernameRules, AdminUserCreationForm):  # type: ignore[type-arg]
    pass


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
    form = PlayerChangeForm
    add_form = PlayerCreationForm

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if not change:
            obj.username_skeleton = usernames.skeleton(obj.username)
        if not (change and "username" in form.changed_data):
            super().save_model(request, obj, form, change)
            return
        # A rename goes through its service, which carries the name onto every board and the index.
        new_username, obj.username = obj.username, form.initial["username"]
        super().save_model(request, obj, form, change)
        renamed = user_services.rename_player(user_id=obj.pk, username=new_username)
        obj.username, obj.username_skeleton = renamed.username, renamed.username_skeleton

    @admin.action(description="Hide selected players (cheaters)", permissions=["moderate"])
    def hide_players(self, request: HttpRequest, queryset: models.QuerySet[User]) -> TemplateResponse | None:
        return moderate_with_reason(
            self,
            request,
            queryset,
            title="Hide players",
            apply=lambda p, **kw: services.hide_player(user_id=p.pk, **kw),
        )

    @admin.action(description="Restore selected hidden players", permissions=["moderate"])
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

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.moderate_player")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Another staff account (a superuser above all) is not a player to moderate.
        other_staff = obj is not None and obj != request.user and (obj.is_staff or obj.is_superuser)
        if other_staff and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        if request.user.is_superuser:
            return readonly
        return (*readonly, *PRIVILEGE_FIELDS, "last_login", "date_joined")

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        # This form sets a password without the old one: taking over any account it reaches.
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Deleting a player would drop their entries behind the services' back.
        actions.pop("delete_selected", None)
        return actions


admin.site.unregister(Group)


@admin.register(Group)
class SuperuserGroupAdmin(GroupAdmin):
    """A group grants permissions to its members: editing one is permission management, for superusers."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser
