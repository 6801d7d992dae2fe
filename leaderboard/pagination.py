"""A paginator for admin changelists over million-row tables: no full COUNT on every page."""

import json
from functools import cached_property

from django.core.paginator import Paginator
from django.db import connections, models

from leaderboard import selectors


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to a cap; past it on PostgreSQL, the planner's estimate stands in.

    The cap keeps the exact part cheap; an unfiltered table is estimated from pg_class,
    a filtered one from EXPLAIN. SQLite always counts exactly.
    """

    exact_up_to = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        assert isinstance(queryset, models.QuerySet)  # the admin paginates querysets
        if connections[queryset.db].vendor != "postgresql":
            return queryset.count()
        capped = queryset.order_by()[: self.exact_up_to + 1].count()
        if capped <= self.exact_up_to:
            return capped
        if not queryset.query.where:
            estimate = selectors.estimate_row_count(model=queryset.model)
        else:
            plan = json.loads(queryset.order_by().explain(format="json"))
            estimate = int(plan[0]["Plan"]["Plan Rows"])
        return max(capped, estimate)
