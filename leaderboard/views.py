"""HTML pages."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from leaderboard import selectors


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "leaderboard/home.html", {"top": selectors.get_top(limit=10)})
