"""Site-wide error pages: JSON under /api/, HTML elsewhere."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        body = {"error": {"code": "not_found", "message": "No such endpoint.", "fields": {}}}
        return JsonResponse(body, status=404)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        body = {
            "error": {"code": "server_error", "message": "Something went wrong on our side.", "fields": {}}
        }
        return JsonResponse(body, status=500)
    return render(request, "500.html", status=500)
