"""Admin actions that moderate: each asks for a reason on its own page, then calls a service."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import models
from django.http import HttpRequest
from django.template.response import TemplateResponse

from leaderboard.errors import ModerationError
from users.models import User

# One action touches at most this many targets: each is its own transaction and recount.
MAX_TARGETS = 100


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text="Recorded in the moderation log with your name and the time.",
    )


def moderate_with_reason(
    modeladmin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    queryset: models.QuerySet[Any],
    *,
    title: str,
    apply: Callable[..., object],
) -> TemplateResponse | None:
    """Show the reason page; once it is filled in, call `apply(target, moderator=, reason=)` for each."""
    targets = list(queryset[: MAX_TARGETS + 1])
    if len(targets) > MAX_TARGETS:
        modeladmin.message_user(
            request, f"Select at most {MAX_TARGETS} at a time for this action.", messages.ERROR
        )
        return None
    moderator = request.user
    assert isinstance(moderator, User)  # the admin only lets staff users in
    form = ReasonForm(request.POST if "confirm" in request.POST else None)
    if form.is_valid():
        done, refused = 0, []
        for target in targets:
            try:
                apply(target, moderator=moderator, reason=form.cleaned_data["reason"])
                done += 1
            except ModerationError as exc:
                refused.append(exc.message)
        if done:
            modeladmin.message_user(request, f"{title}: done for {done}.", messages.SUCCESS)
        for message in refused:
            modeladmin.message_user(request, f"Skipped: {message}", messages.WARNING)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "targets": targets,
        "form": form,
        "action": request.POST.get("action", ""),
        "opts": modeladmin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/leaderboard/moderation_reason.html", context)
