"""New Relic custom attributes on the current transaction; no-ops when the agent is not running.

The agent starts only under `newrelic-admin run-program` with NEW_RELIC_LICENSE_KEY set, so on a
laptop, in tests and in production without a key, every call here returns at once.
"""

import newrelic.agent

from leaderboard.boards import BoardPeriod


def annotate_board(*, board_period: BoardPeriod, slug: str) -> None:
    """Say which board and period the request read."""
    if newrelic.agent.current_transaction() is None:
        return
    newrelic.agent.add_custom_attributes([("board", slug), ("period", board_period.period)])


def annotate_rank_source(source: str) -> None:
    """Say where the ranks the request read came from ("redis" or "sql").

    The read that answered says it: asking the index whether it is ready would be another Redis
    round trip on every read the agent records.
    """
    if newrelic.agent.current_transaction() is None:
        return
    newrelic.agent.add_custom_attribute("rank_source", source)
