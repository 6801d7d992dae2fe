"""Number formatting for the leaderboard pages."""

from django import template

register = template.Library()


@register.filter
def thousands(value: int | float | None) -> str:
    """1234567 -> "1,234,567" (the pages are English-only)."""
    if value is None:
        return ""
    return f"{value:,}"
