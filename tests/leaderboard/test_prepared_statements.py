"""On PostgreSQL the submit statement is planned once per connection (leaderboard.prepared)."""

import psycopg
import pytest
from django.db import NotSupportedError, connection

from leaderboard import submit_statement
from leaderboard.errors import TotalScoreLimit
from leaderboard.models import GameSession
from tests.factories import make_player, submit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

# A fragment only the submit statement's text holds.
SUBMIT_STATEMENT = "FOR NO KEY UPDATE"


def executions(fragment: str) -> dict[str, int]:
    """This connection's prepared statements whose text holds `fragment`: name -> times executed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, generic_plans + custom_plans FROM pg_prepared_statements "
            "WHERE NOT from_sql AND strpos(statement, %s) > 0",
            [fragment],
        )
        return dict(cursor.fetchall())


def test_each_submit_after_the_first_runs_the_statement_prepared_on_its_connection() -> None:
    first, second, third = make_player(), make_player(), make_player()
    submit(first, 10)
    before = executions(SUBMIT_STATEMENT)

    submit(second, 20)
    submit(third, 30)

    after = executions(SUBMIT_STATEMENT)
    assert before and after.keys() == before.keys()  # no statement was prepared again
    assert sum(after.values()) - sum(before.values()) == 2


def test_a_submit_refused_after_its_statement_ran_leaves_it_usable(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_MAX_SCORE_PER_SESSION = 2**52
    first, second = make_player(), make_player()
    submit(first, 2**52)

    # The statement runs, then the total past the exact limit rolls the transaction back.
    with pytest.raises(TotalScoreLimit):
        submit(first, 2**52)
    answer = submit(second, 2**52)

    assert answer.default_board is not None
    assert answer.entries[answer.default_board].total_score == 2**52
    assert GameSession.objects.count() == 2
    assert executions(SUBMIT_STATEMENT)


def test_nothing_is_prepared_when_switched_off(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DATABASE_PREPARED_STATEMENTS = False
    first, second = make_player(), make_player()
    submit(first, 10)
    before = executions(SUBMIT_STATEMENT)

    submit(second, 20)

    assert executions(SUBMIT_STATEMENT) == before


def other_connection() -> psycopg.Connection:
    """A second session on the test database, as a migration job would hold."""
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        autocommit=True,
    )


@pytest.mark.django_db(transaction=True)
def test_a_migration_changing_a_column_the_statement_returns_fails_one_submit_not_every_later_one() -> None:
    first, second = make_player(), make_player()
    submit(first, 10)
    with other_connection() as migration:
        migration.execute("ALTER TABLE users ALTER COLUMN username TYPE text")
        try:
            # PostgreSQL refuses the statement prepared for the old column type...
            with pytest.raises(NotSupportedError):
                submit(second, 20)
            # ...that submit rolls back, and psycopg forgets what it prepared: the next one prepares afresh.
            answer = submit(second, 20)
            assert answer.username == second.username
            assert GameSession.objects.filter(user=second).count() == 1
        finally:
            migration.execute("ALTER TABLE users ALTER COLUMN username TYPE varchar(150)")
            # Statements prepared against the altered table must not outlive the test.
            psycopg.Cursor(connection.connection).execute("DEALLOCATE ALL", prepare=False)


# psycopg caches the conversion of a query's placeholders only for texts of up to this many
# characters; a longer one is converted again on every execution (about 0.1 ms of CPU a submit).
PSYCOPG_CACHED_QUERY_LENGTH = 4096


def test_the_submit_statement_is_short_enough_for_psycopg_to_convert_it_once() -> None:
    assert len(submit_statement._STATEMENT) <= PSYCOPG_CACHED_QUERY_LENGTH
