"""Fill the database with generated players and game sessions, then build the leaderboard entries.

Deterministic for a given --seed. On PostgreSQL the rows stream in with COPY; on SQLite with batched
executemany. The entries of every board and period are then folded from the session log in one pass
ordered by player (`entries.fold`, the rules recounts use) and written straight in: the one sanctioned
bypass of the services, for a database this command has just emptied.
"""

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from leaderboard import entries, selectors, services
from leaderboard.models import Board, GameSession
from users.usernames import skeleton

GAME_MODES = ("solo", "team")
MAX_SCORE = 10_000
WINDOW_DAYS = 365
CHUNK_ROWS = 50_000
USER_COLUMNS = (
    "id, password, last_login, is_superuser, username, first_name, last_name, "
    "email, is_staff, is_active, date_joined, username_skeleton"
)
SESSION_COLUMNS = "id, user_id, score, game_mode, played_at, is_void"
# Tables whose secondary indexes and foreign keys are set aside during a PostgreSQL bulk load.
BULK_TABLES = ("users", "game_session", "leaderboard")
# --follows gives friends to this many players at most: enough for a demo and for benchmarks.
FOLLOWING_PLAYERS = 10_000
# Boards of every kind, so a first run shows each feature: a solo submit feeds all four with "global",
# a team submit only "global".
DEMO_BOARDS = (
    {"slug": "solo", "name": "Solo, all time", "game_mode": "solo"},
    {
        "slug": "weekly-best",
        "name": "Solo weekly best game",
        "game_mode": "solo",
        "aggregation": "best",
        "window": "weekly",
        "time_zone": "Europe/Paris",
    },
    {
        "slug": "daily-lowest",
        "name": "Solo daily lowest game (lower is better)",
        "game_mode": "solo",
        "aggregation": "best",
        "order": "lower",
        "window": "daily",
        "time_zone": "America/New_York",
    },
)


class Command(BaseCommand):
    help = "Create N players and M game sessions (deterministic per --seed) and their leaderboard entries."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, required=True, help="number of players to create")
        parser.add_argument("--sessions", type=int, required=True, help="number of game sessions to create")
        parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data)")
        parser.add_argument(
            "--until",
            type=date.fromisoformat,
            default=None,
            help="sessions are spread over the year before this UTC date (default: today)",
        )
        parser.add_argument("--reset", action="store_true", help="wipe players, sessions and entries first")
        parser.add_argument("--if-empty", action="store_true", help="do nothing if players already exist")
        parser.add_argument(
            "--demo-boards",
            action="store_true",
            help="also create boards of every kind (one mode, weekly best, daily lower-is-better)",
        )
        parser.add_argument(
            "--follows",
            type=int,
            default=0,
            help=f"each of the first {FOLLOWING_PLAYERS:,} players follows this many others",
        )
        parser.add_argument(
            "--keep-indexes",
            action="store_true",
            help="PostgreSQL: keep secondary indexes and foreign keys in place during the load",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        n_users: int = options["users"]
        n_sessions: int = options["sessions"]
        if n_users < 1 or n_sessions < 0:
            raise CommandError("--users must be at least 1 and --sessions at least 0.")
        until: date = options["until"] or datetime.now(UTC).date()
        self.progress = options["verbosity"] > 0
        self.timings: list[tuple[str, float]] = []
        started = time.monotonic()

        existing = _count_players()
        if existing:
            if options["if_empty"]:
                self.stdout.write(f"The database already holds {existing} players; nothing seeded.")
                return
            if not options["reset"]:
                raise CommandError(
                    f"The database already holds {existing} players. Pass --reset to replace them "
                    "with generated data, or --if-empty to keep them."
                )

        generator = DataGenerator(seed=options["seed"], n_users=n_users, n_sessions=n_sessions, until=until)
        if options["demo_boards"]:
            with self.phase("boards"):
                create_demo_boards()
        postgres = connection.vendor == "postgresql"
        # VACUUM cannot run inside a transaction (as under a test); ANALYZE alone then.
        vacuum = postgres and not connection.in_atomic_block
        with transaction.atomic():
            if existing or _count_sessions():
                with self.phase("reset"):
                    _wipe_postgresql() if postgres else _wipe_sqlite()
            first_user_id = _next_id("users")
            first_session_id = _next_id("game_session")
            if postgres:
                self._load_postgresql(
                    generator, first_user_id, first_session_id, options["keep_indexes"], analyze=not vacuum
                )
            else:
                self._load_sqlite(generator, first_user_id, first_session_id)
            if options["follows"]:
                with self.phase("follows"):
                    _insert_follows(generator.follows(first_user_id, options["follows"]))
        if vacuum:
            # Marks the fresh pages all-visible, so counts and listings can be index-only scans.
            with self.phase("vacuum"), connection.cursor() as cursor:
                cursor.execute("SET statement_timeout = 0")
                cursor.execute(f"VACUUM (ANALYZE) {', '.join(BULK_TABLES)}")
                cursor.execute("RESET statement_timeout")
        with self.phase("rank index"):
            _refresh_derived_ranking()
        with self.phase("score baselines"):
            services.refresh_score_baselines()

        total = time.monotonic() - started
        summary = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in self.timings)
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {n_users} players and {n_sessions} sessions in {total:.1f}s ({summary})."
            )
        )

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        elapsed = time.monotonic() - started
        self.timings.append((name, elapsed))
        self.stdout.write(f"  {name}: {elapsed:.1f}s")

    def bar(self, desc: str, total: int, unit: str = "rows") -> tqdm:  # type: ignore[type-arg]
        return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=not self.progress, leave=True)

    def _load_postgresql(
        self,
        generator: "DataGenerator",
        first_user_id: int,
        first_session_id: int,
        keep_indexes: bool,
        analyze: bool,
    ) -> None:
        with connection.cursor() as cursor:
            # A bulk load runs far longer than any request may: lift the statement cap for this load only,
            # and give the aggregation and index builds the memory to sort millions of rows.
            cursor.execute("SET LOCAL statement_timeout = 0")
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            set_aside: list[str] = []
            if not keep_indexes:
                with self.phase("drop indexes"):
                    set_aside = _drop_secondary_indexes(cursor)
            with self.phase("players"), self.bar("players", generator.n_users) as bar:
                _copy(cursor, "users", USER_COLUMNS, generator.user_chunks(first_user_id), bar.update)
            with self.phase("sessions"), self.bar("sessions", generator.n_sessions) as bar:
                _copy(
                    cursor,
                    "game_session",
                    SESSION_COLUMNS,
                    generator.session_chunks(first_user_id, first_session_id),
                    bar.update,
                )
            self._build_entries()
            if set_aside:
                with self.phase("rebuild indexes"):
                    for statement in set_aside:
                        cursor.execute(statement)
            with self.phase("sequences"):
                if analyze:
                    cursor.execute(f"ANALYZE {', '.join(BULK_TABLES)}")
                for table in ("users", "game_session"):
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                    )

    def _load_sqlite(self, generator: "DataGenerator", first_user_id: int, first_session_id: int) -> None:
        with connection.cursor() as cursor:
            with self.phase("players"), self.bar("players", generator.n_users) as bar:
                for rows in generator.user_rows(first_user_id):
                    cursor.executemany(
                        f"INSERT INTO users ({USER_COLUMNS}) VALUES ({', '.join(['%s'] * 12)})",
                        rows,
                    )
                    bar.update(len(rows))
            with self.phase("sessions"), self.bar("sessions", generator.n_sessions) as bar:
                for rows in generator.session_rows(first_user_id, first_session_id):
                    cursor.executemany(
                        f"INSERT INTO game_session ({SESSION_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)", rows
                    )
                    bar.update(len(rows))
        self._build_entries()

    def _build_entries(self) -> None:
        """Every board's entries, every period, folded from the whole session log in one ordered pass."""
        selectors.forget_rarely_changing()
        services.ensure_default_board()
        boards = selectors.list_boards()
        rows = (
            GameSession.objects.filter(is_void=False, user__is_hidden=False)
            .order_by("user_id")
            .values_list("id", "user_id", "score", "game_mode", "played_at", "user__username")
            .iterator(chunk_size=CHUNK_ROWS)
        )
        usernames: dict[int, str] = {}

        def sessions() -> Iterator[entries.CountedSession]:
            for session_id, user_id, score, mode, played_at, username in rows:
                usernames[user_id] = username
                yield entries.CountedSession(session_id, user_id, score, mode, played_at)

        locators: dict[int, entries.PeriodLocator] = {}
        version = entries.version_at(timezone.now())
        total = _count_sessions()
        with self.phase("entries"), self.bar("entries", total, unit="sessions") as bar:
            for group in entries.group_by_user(sessions(), users_per_group=5000):
                folded = entries.fold(group, boards, locators)
                _insert_entries(folded, usernames, version)
                for user_id in {session.user_id for session in group}:
                    del usernames[user_id]
                bar.update(len(group))


def _insert_entries(folded: list[entries.FoldedEntry], usernames: dict[int, str], version: int) -> None:
    """Write fresh entries straight in: the tables were emptied, so there is nothing to merge."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY leaderboard ({entries.ENTRY_COLUMNS}) FROM STDIN") as copy:
                for e in folded:
                    copy.write_row(e.row(usernames[e.user_id], version, adapt=False))
            return
        cursor.executemany(
            f"INSERT INTO leaderboard ({entries.ENTRY_COLUMNS}) VALUES {entries.ROW_PLACEHOLDERS}",
            [e.row(usernames[e.user_id], version) for e in folded],
        )


class DataGenerator:
    """Players `user_1..user_N`; sessions with uniformly drawn player, score, game mode and time."""

    def __init__(self, *, seed: int, n_users: int, n_sessions: int, until: date) -> None:
        self.seed = seed
        self.n_users = n_users
        self.n_sessions = n_sessions
        self.window_start = datetime(until.year, until.month, until.day, tzinfo=UTC) - timedelta(
            days=WINDOW_DAYS
        )

    def _days(self) -> list[str]:
        return [(self.window_start + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(WINDOW_DAYS)]

    @staticmethod
    def _times_of_day() -> list[str]:
        return [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)]

    def _sessions(self, first_user_id: int) -> Iterator[list[tuple[int, int, str, int]]]:
        """Chunks of (user_id, score, game_mode, seconds after window start)."""
        rng = random.Random(self.seed)
        rand = rng.random
        n_users, window_seconds = self.n_users, WINDOW_DAYS * 86_400
        remaining = self.n_sessions
        while remaining:
            size = min(CHUNK_ROWS, remaining)
            remaining -= size
            yield [
                (
                    first_user_id + int(rand() * n_users),
                    1 + int(rand() * MAX_SCORE),
                    GAME_MODES[rand() < 0.5],
                    int(rand() * window_seconds),
                )
                for _ in range(size)
            ]

    def follows(self, first_user_id: int, per_player: int) -> list[tuple[int, int]]:
        """(follower, followed) pairs: each of the first players follows `per_player` distinct others."""
        rng = random.Random(self.seed + 1)
        per_player = min(per_player, self.n_users - 1)
        pairs = []
        for follower in range(min(self.n_users, FOLLOWING_PLAYERS)):
            others: set[int] = set()
            while len(others) < per_player:
                other = rng.randrange(self.n_users)
                if other != follower:
                    others.add(other)
            pairs += [(first_user_id + follower, first_user_id + other) for other in sorted(others)]
        return pairs

    def user_chunks(self, first_user_id: int) -> Iterator[tuple[str, int]]:
        """COPY text chunks of players, with their row counts."""
        joined = self.window_start.strftime("%Y-%m-%d %H:%M:%S+00")
        tail = f"\t!\t\\N\tf\t{{}}\t\t\t\tf\tt\t{joined}\t{{}}\n"
        for start in range(0, self.n_users, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, self.n_users)
            names = [f"user_{i + 1}" for i in range(start, stop)]
            text = "".join(
                f"{first_user_id + i}{tail.format(name, skeleton(name))}"
                for i, name in zip(range(start, stop), names, strict=True)
            )
            yield text, stop - start

    def session_chunks(self, first_user_id: int, first_session_id: int) -> Iterator[tuple[str, int]]:
        """COPY text chunks of sessions, with their row counts."""
        days, times = self._days(), self._times_of_day()
        next_id = first_session_id
        for chunk in self._sessions(first_user_id):
            lines = []
            for user_id, score, mode, offset in chunk:
                day, second = divmod(offset, 86_400)
                lines.append(f"{next_id}\t{user_id}\t{score}\t{mode}\t{days[day]} {times[second]}+00\tf\n")
                next_id += 1
            yield "".join(lines), len(chunk)

    def user_rows(self, first_user_id: int) -> Iterator[list[tuple[Any, ...]]]:
        joined = self.window_start.replace(tzinfo=None).isoformat(sep=" ")
        for start in range(0, self.n_users, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, self.n_users)
            yield [
                (first_user_id + i, "!", None, False, name, "", "", "", False, True, joined, skeleton(name))
                for i, name in ((i, f"user_{i + 1}") for i in range(start, stop))
            ]

    def session_rows(self, first_user_id: int, first_session_id: int) -> Iterator[list[tuple[Any, ...]]]:
        days, times = self._days(), self._times_of_day()
        next_id = first_session_id
        for chunk in self._sessions(first_user_id):
            rows = []
            for user_id, score, mode, offset in chunk:
                day, second = divmod(offset, 86_400)
                rows.append((next_id, user_id, score, mode, f"{days[day]} {times[second]}", False))
                next_id += 1
            yield rows


def create_demo_boards() -> None:
    for definition in DEMO_BOARDS:
        if not Board.objects.filter(slug=definition["slug"]).exists():
            services.create_board(**definition)  # type: ignore[arg-type]
    selectors.forget_rarely_changing()


def _insert_follows(pairs: list[tuple[int, int]]) -> None:
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        for start in range(0, len(pairs), CHUNK_ROWS):
            cursor.executemany(
                "INSERT INTO follow (follower_id, followed_id, created_at) VALUES (%s, %s, %s)",
                [(follower, followed, now) for follower, followed in pairs[start : start + CHUNK_ROWS]],
            )


def _count_players() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM users WHERE NOT is_staff AND NOT is_superuser")
        return int(cursor.fetchone()[0])


def _count_sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM game_session")
        return int(cursor.fetchone()[0])


def _next_id(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
        return int(cursor.fetchone()[0])


def _wipe_postgresql() -> None:
    """Remove players, sessions and entries; moderators (staff) stay."""
    with connection.cursor() as cursor:
        # CASCADE also empties whatever records refer to the wiped sessions and entries.
        cursor.execute("TRUNCATE game_session, leaderboard, follow CASCADE")
        cursor.execute("SELECT EXISTS (SELECT 1 FROM users WHERE is_staff OR is_superuser)")
        if cursor.fetchone()[0]:
            cursor.execute("DELETE FROM users WHERE NOT is_staff AND NOT is_superuser")
            # Run the deferred foreign key checks now: the load below alters these tables.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            cursor.execute("TRUNCATE users CASCADE")


def _wipe_sqlite() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM leaderboard")
        cursor.execute("DELETE FROM follow")
        cursor.execute("DELETE FROM game_session")
        cursor.execute("DELETE FROM users WHERE NOT is_staff AND NOT is_superuser")


def _drop_secondary_indexes(cursor: Any) -> list[str]:
    """Drop the bulk tables' foreign keys and non-unique indexes; return the statements restoring them."""
    tables = list(BULK_TABLES)
    cursor.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.conrelid::regclass::text = ANY(%s)
        ORDER BY 1, 2
        """,
        [tables],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute(
        """
        SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid)
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        WHERE t.relname = ANY(%s) AND NOT x.indisunique AND NOT x.indisprimary
          AND t.relnamespace = 'public'::regnamespace
        ORDER BY 1, 2
        """,
        [tables],
    )
    indexes = cursor.fetchall()
    restore: list[str] = []
    for table, name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for _table, name, definition in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
        restore.insert(0, definition)  # indexes first: they make the foreign key checks cheap
    return restore


def _copy(
    cursor: Any, table: str, columns: str, chunks: Iterator[tuple[str, int]], advance: Callable[[int], object]
) -> None:
    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for text, rows in chunks:
            copy.write(text)
            advance(rows)


def _refresh_derived_ranking() -> None:
    """Every cached listing and rank is stale now; rebuild the rank index when the project has one."""
    # Only this cache's own keys: other data may share the Redis database.
    delete_pattern = getattr(cache, "delete_pattern", None)
    if delete_pattern is not None:
        delete_pattern("*")
    else:
        cache.clear()
    # The rank index lives in Redis: without REDIS_URL ranks come from SQL and there is none to rebuild.
    if settings.REDIS_URL:
        call_command("rebuild_rank_index")
