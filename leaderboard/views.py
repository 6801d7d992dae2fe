"""HTML pages: the live leaderboard of any board and period, player search and player pages,
and the staff dashboard.

An htmx request gets the fragment it asked for; a full request gets the page around it.
"""

import json
import re
from dataclasses import dataclass

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from leaderboard import charts, live_metrics, ranking, selectors
from leaderboard.api.cursors import Cursor, InvalidCursor, read_walk_page
from leaderboard.boards import BoardRef
from leaderboard.db_router import stale_reads_ok
from leaderboard.errors import InvalidPeriodParameter
from leaderboard.page_limits import limit_page_reads


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


TOP_SIZES = (10, 25, 50, 100)
SESSIONS_PER_PAGE = 20
AROUND_COUNT = 3  # players shown above and below the player on their page
# "user_id:rank" pairs of the rows a page shows, sent back on each poll (N <= 100).
_SNAPSHOT_PAIR = re.compile(r"^(\d{1,19}):(\d{1,9})$")


@dataclass(frozen=True)
class RankChange:
    kind: str  # "up", "down", "new" or "" (unchanged, or nothing to compare with)
    places: int = 0


@dataclass(frozen=True)
class TopRow:
    standing: ranking.Standing
    change: RankChange


def parse_snapshot(value: str) -> dict[int, int]:
    """Previous ranks by user id from "id:rank,id:rank"; malformed pairs are ignored."""
    previous: dict[int, int] = {}
    for pair in value.split(",")[: max(TOP_SIZES)]:
        match = _SNAPSHOT_PAIR.match(pair.strip())
        if match:
            previous[int(match[1])] = int(match[2])
    return previous


def rank_changes(rows: list[ranking.Standing], previous: dict[int, int]) -> list[TopRow]:
    """Compare each row with the snapshot the page showed before (empty: nothing to compare)."""
    result = []
    for row in rows:
        before = previous.get(row.user_id)
        if not previous:
            change = RankChange("")
        elif before is None:
            change = RankChange("new")
        elif before > row.rank:
            change = RankChange("up", before - row.rank)
        elif before < row.rank:
            change = RankChange("down", row.rank - before)
        else:
            change = RankChange("")
        result.append(TopRow(standing=row, change=change))
    return result


def _top_size(value: str | None) -> int:
    try:
        size = int(value or TOP_SIZES[0])
    except ValueError:
        return TOP_SIZES[0]
    return size if size in TOP_SIZES else TOP_SIZES[0]


def _board_or_404(slug: str | None) -> BoardRef:
    """The board a `?board=` parameter names (the default board when it is absent)."""
    if not slug:
        return selectors.get_default_board_ref()
    board = selectors.get_board(slug=slug)
    if board is None:
        raise Http404("No such board.")
    return board


def _board_choices(board: BoardRef) -> list[BoardRef]:
    """The boards to switch between: the active ones, and a retired one while its archive is shown."""
    boards = selectors.list_active_boards()
    return boards if board in boards else [*boards, board]


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "400.html", {"message": message}, status=400)


def _wants_fragment(request: HtmxHttpRequest) -> bool:
    # htmx re-fetches a pushed URL it has no snapshot of with HX-Request set: that needs the page.
    return bool(request.htmx) and not request.htmx.history_restore_request


@require_GET
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
@limit_page_reads
@stale_reads_ok
def home(request: HtmxHttpRequest) -> HttpResponse:
    board = _board_or_404(request.GET.get("board"))
    asked = request.GET.get("period") or selectors.CURRENT
    now = timezone.now()
    try:
        cursor = Cursor.decode(request.GET["cursor"]) if request.GET.get("cursor") else None
    except InvalidCursor:
        return _bad_request(request, "This page link is broken: start again from the top of the board.")
    try:
        # A walk stays in the period its first page showed, even once the board has reset.
        board_period = selectors.resolve_period(
            board=board, period=cursor.period if cursor else asked, now=now
        )
    except InvalidPeriodParameter as exc:
        return _bad_request(request, exc.message)
    if cursor and (board_period.period != cursor.period or asked not in (selectors.CURRENT, cursor.period)):
        return _bad_request(request, "This page link belongs to another period.")
    period = selectors.describe_period(board=board, board_period=board_period, now=now)
    # "current" follows the board into its next period at a reset; a named period stays put.
    period_param = selectors.CURRENT if asked == selectors.CURRENT else period.key
    size = _top_size(request.GET.get("n"))
    top, following = read_walk_page(board_period=board_period, limit=size, cursor=cursor, now=now)
    # The first page knows how many players there are: no link to an empty page.
    if cursor is None and top.total_players <= size:
        following = None
    context: dict[str, object] = {
        "board": board,
        "period": period,
        "period_param": period_param,
        "current_key": board.period_key_at(now),
        "size": size,
        "sizes": TOP_SIZES,
        "is_later_page": cursor is not None,
        "next_cursor": following.encode() if following else "",
        "total_players": top.total_players,
        "now": now,
        "updated_at": now,
    }
    if cursor:
        context["rows"] = rank_changes(top.rows, {})
        # A later page is one fixed read of the walk: a poll would bring the first page back.
        context["poll_vals"] = ""
    else:
        snapshot = ",".join(f"{row.user_id}:{row.rank}" for row in top.rows)
        # `shown` names the period the snapshot is of: after a reset, "current" is a new period whose
        # rows are not news compared with the last period's.
        poll = {"n": size, "prev": snapshot, "shown": period.key, "board": board.slug, "period": period_param}
        same_period = request.GET.get("shown", period.key) == period.key
        previous = parse_snapshot(request.GET.get("prev", "")) if same_period else {}
        context["rows"] = rank_changes(top.rows, previous)
        # Final standings do not change: a past period is not polled.
        context["poll_vals"] = json.dumps(poll) if period.is_current else ""
    if _wants_fragment(request):
        return render(request, "leaderboard/_top_table.html", context)
    context["boards"] = _board_choices(board)
    return render(request, "leaderboard/home.html", context)


@require_GET
@vary_on_headers("HX-Request")
@limit_page_reads
@stale_reads_ok
def player_search(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:150]
    context = {"query": query, "players": selectors.search_players(prefix=query)}
    if request.htmx:
        return render(request, "leaderboard/_search_results.html", context)
    return render(request, "leaderboard/search.html", context)


@require_GET
@vary_on_headers("HX-Request")
@limit_page_reads
@stale_reads_ok
def player_detail(request: HtmxHttpRequest, user_id: int) -> HttpResponse:
    player = selectors.get_visible_player(user_id=user_id)
    if player is None:
        raise Http404("No such player.")
    context: dict[str, object] = {
        "player": player,
        "standing": selectors.get_player_rank(user_id=player.pk),
    }
    if request.htmx:
        return render(request, "leaderboard/_rank_card.html", context)
    sessions = Paginator(selectors.list_counted_sessions(user_id=player.pk), SESSIONS_PER_PAGE)
    context["sessions"] = sessions.get_page(request.GET.get("page"))
    context["chart"] = charts.score_history_chart(selectors.get_score_history(user_id=player.pk))
    context["standings"] = selectors.list_standings(user_id=player.pk)
    around_board = _board_or_404(request.GET.get("board"))
    around_period = selectors.resolve_period(board=around_board)
    context["around_board"] = around_board
    context["around_period"] = around_period
    context["around"] = selectors.get_around(
        board_period=around_period, user_id=player.pk, count=AROUND_COUNT
    )
    context["friends"] = selectors.get_friends(
        board=around_board, board_period=around_period, user_id=player.pk
    )
    context["boards"] = _board_choices(around_board)
    return render(request, "leaderboard/player.html", context)


@require_GET
@limit_page_reads
@stale_reads_ok
def player_by_name(request: HttpRequest, username: str) -> HttpResponse:
    user_id = selectors.get_visible_player_id_by_username(username=username)
    if user_id is None:
        raise Http404("No such player.")
    return redirect("player", user_id=user_id)


def _live_context() -> dict[str, object]:
    live = live_metrics.get_live_figures()
    return {
        "live": live,
        "latency_chart": charts.latency_bars(
            [
                (f"{e.route} ({e.cache})" if e.cache else e.route, e.p50_ms, e.p95_ms, e.p99_ms)
                for e in live.endpoints
            ]
        ),
        "rate_chart": charts.rate_line(live.history),
    }


@require_GET
@staff_member_required
@vary_on_headers("HX-Request")
def health(request: HtmxHttpRequest) -> HttpResponse:
    """The operator dashboard: live figures against the seed's targets, polled as a fragment."""
    if request.htmx:
        return render(request, "leaderboard/_live_metrics.html", _live_context())
    context = {
        **admin.site.each_context(request),
        "title": "Leaderboard health",
        "health": selectors.get_health(),
        **_live_context(),
    }
    return render(request, "leaderboard/health.html", context)
