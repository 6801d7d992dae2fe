"""New Relic custom attributes on the current transaction; no-ops when the agent is not running.

The agent starts only under `newrelic-admin run-program` with NEW_RELIC_LICENSE_KEY set, so on a
laptop, in tests and in production without a key, every call here returns at once.
"""

import newrelic.agent

from leaderboard import ranking
from leaderboard.boards import BoardPeriod


def annotate_board(*, board_period: BoardPeriod, slug: str) -> None:
    """Say which board and period the request read and where its ranks came from (redis or sql)."""
    if newrelic.agent.current_transaction() is None:
        return
    # rank_source asks Redis, so only when there is a transaction to record it on.
    newrelic.agent.add_custom_attributes(
        [
            ("board", slug),
            ("period", board_period.period),
            ("rank_source", ranking.rank_source(board_period=board_period)),
        ]
    )
