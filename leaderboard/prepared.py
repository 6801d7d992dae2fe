"""A cursor for the hot path's own SQL, which PostgreSQL plans once per connection.

Django's psycopg backend binds parameters in the client and never prepares a statement, which suits
the ORM's many varied queries. The submit statement is the opposite: one fixed, large text (a
five-step CTE) that PostgreSQL spent longer planning than running. Through this cursor it is bound on
the server and prepared on its first use, so each connection plans it once, and PostgreSQL's CPU per
submit halved (docs/decisions/0013). The batch's statements stay on Django's cursor: prepared, they
cost PostgreSQL as much or more (their planning is small beside a hundred sessions' work).

Only a statement whose plan cannot depend on its values belongs here: after five executions
PostgreSQL may keep one generic plan for all values. The submit's is primary-key lookups, a scan of
the small boards table and the entries' unique index whatever the values (EXPLAIN EXECUTE shows the
same plan generic as custom). Around-me's SQL, tried here, got a generic plan that ran past the
statement timeout on the 1M board.

A migration that changes a column the statement returns makes PostgreSQL refuse the prepared form
("cached plan must not change result type"): that submit fails, its transaction rolls back, and
psycopg forgets what the connection prepared on every rollback, so the next submit prepares afresh.

`DATABASE_PREPARED_STATEMENTS=false` turns it off, for a connection pooler that cannot carry
prepared statements across transactions (PgBouncer in transaction mode before 1.21, or without
`max_prepared_statements`). The embedded SQLite default always takes Django's own cursor.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.backends.utils import CursorWrapper


@contextmanager
def cursor() -> Iterator[CursorWrapper]:
    """A cursor of the default connection; on PostgreSQL, one whose statements are prepared."""
    # Where queries are logged (DEBUG, a test that captures them), Django's own cursor runs them: the
    # log reads a statement's text from the driver, which a prepared execution does not record.
    if (
        connection.vendor != "postgresql"
        or not settings.DATABASE_PREPARED_STATEMENTS
        or connection.queries_logged
    ):
        with connection.cursor() as plain:
            yield plain
        return
    # What connection.cursor() does before it wraps the driver's cursor, through public methods:
    # the health check, the connection itself, and errors raised as Django's.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        # Server-side binding; the connection's prepare_threshold (settings: 0) prepares each statement
        # on its first execution. Django's own cursors bind in the client, which never prepares.
        # (django-stubs declare neither the driver cursor's connection argument nor a driver cursor
        # as make_cursor's argument, though Django's own cursor() passes exactly these.)
        raw = ServerBindingCursor(connection.connection)  # type: ignore[call-arg]
    with connection.make_cursor(raw) as wrapped:  # type: ignore[arg-type]
        yield wrapped
