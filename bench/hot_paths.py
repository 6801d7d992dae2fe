"""In-process cost of the two hottest index paths: one submit (commit + index publish) and one rank read.

    DATABASE_URL=... REDIS_URL=... python -m bench.hot_paths [--requests 1000] [--runs 3]

Creates a few hundred players in the database it is given (use a scratch one); prints the median per-call time of each run and the median of the runs. Nothing is asserted.
"""

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--players", type=int, default=200)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderforge.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from leaderboard import ranking, selectors, services
    from leaderboard.boards import BoardPeriod
    from leaderboard.ranking import redis_index
    from users import services as user_services

    prefix = f"hotpath{os.getpid()}_"
    players = [user_services.register_player(username=f"{prefix}{i}") for i in range(args.players)]
    board_id = selectors.get_default_board_ref().id
    for player in players:
        services.submit_score(user_id=player.pk, score=1, game_mode="solo")
    if redis_index.is_enabled():
        redis_index.rebuild(board_period=BoardPeriod(board_id))
    print(f"rank source: {ranking.rank_source(board_period=BoardPeriod(board_id))}")

    def per_call(operation) -> float:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        for n in range(args.requests):
            operation(n)
        return (time.perf_counter() - started) / args.requests * 1e6

    def submit(n: int) -> None:
        services.submit_score(user_id=players[n % len(players)].pk, score=(n % 7) + 1, game_mode="solo")

    def read(n: int) -> None:
        ranking.get_standing(board_period=BoardPeriod(board_id), user_id=players[n % len(players)].pk)

    for name, operation in (("submit", submit), ("rank read", read)):
        runs = [per_call(operation) for _ in range(args.runs)]
        shown = ", ".join(f"{r:.0f}" for r in runs)
        print(f"{name}: median {statistics.median(runs):.0f} us per call (runs: {shown} us)")
    assert ranking.rank_source(board_period=BoardPeriod(board_id)) == (
        "redis" if redis_index.is_enabled() else "sql"
    )


if __name__ == "__main__":
    main()
