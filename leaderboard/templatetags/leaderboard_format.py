"""Number formatting for the leaderboard pages."""

from django import template

register = template.Library()


@register.filter
def thousands(value: int | float | None) -> str:
    """1234567 -> "1,234,567" (the pages are English-only)."""
    if value is None:
        return ""
    return f"{value:,}"


@register.simple_tag
def percent(ratio: float) -> str:
    """0.8734 -> "87.3%"."""
    return f"{100 * ratio:.1f}%"
