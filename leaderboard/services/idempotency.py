"""Idempotent writes: a retry with the same Idempotency-Key gets the first answer again."""

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from leaderboard import ranking
from leaderboard.errors import IdempotencyKeyBusy, IdempotencyKeyReused
from leaderboard.models import IdempotentRequest


@dataclass(frozen=True)
class Answer:
    """What an idempotent write answered: the status and JSON body, and whether it was a replay."""

    status: int
    body: dict[str, Any]
    replayed: bool


def fingerprint_request(*, operation: str, data: Mapping[str, Any]) -> str:
    """SHA-256 of the operation and its validated input in canonical JSON."""
    canonical = json.dumps({"operation": operation, "input": data}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@ranking.guard_commit
@transaction.atomic
def run_idempotently(
    *,
    api_key_id: str,
    idempotency_key: str,
    fingerprint: str,
    operation: Callable[[], tuple[int, dict[str, Any]]],
) -> Answer:
    """Run `operation` once per (API key, idempotency key); a retry gets the first answer back.

    The key is claimed with an INSERT before the work, in the same transaction. A concurrent
    duplicate blocks on the unique index until the first transaction ends: if it committed, the
    duplicate replays its answer; if it rolled back (the write failed, nothing was stored), the
    duplicate claims the key and does the work itself.
    """
    for _ in range(3):
        claimed = _claim_idempotency_key(
            api_key_id=api_key_id, idempotency_key=idempotency_key, fingerprint=fingerprint
        )
        if claimed is not None:
            status, body = operation()
            IdempotentRequest.objects.filter(pk=claimed.pk).update(
                status_code=status, response_json=json.dumps(body)
            )
            return Answer(status=status, body=body, replayed=False)
        earlier = IdempotentRequest.objects.filter(api_key_id=api_key_id, key=idempotency_key).first()
        if earlier is None:
            continue  # purged since the conflict: claim it again
        if earlier.created_at < _idempotency_cutoff():
            # Expired but not purged yet: forget it and start afresh.
            IdempotentRequest.objects.filter(pk=earlier.pk, created_at__lt=_idempotency_cutoff()).delete()
            continue
        if earlier.fingerprint != fingerprint:
            raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.")
        assert earlier.status_code is not None  # committed rows always hold their answer
        return Answer(status=earlier.status_code, body=json.loads(earlier.response_json), replayed=True)
    raise IdempotencyKeyBusy("This Idempotency-Key is being used by another request; retry shortly.")


def _claim_idempotency_key(
    *, api_key_id: str, idempotency_key: str, fingerprint: str
) -> IdempotentRequest | None:
    try:
        # A savepoint: losing the race must not abort the surrounding transaction.
        with transaction.atomic():
            return IdempotentRequest.objects.create(
                api_key_id=api_key_id, key=idempotency_key, fingerprint=fingerprint
            )
    except IntegrityError:
        return None


def _idempotency_cutoff() -> datetime:
    return timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)


def purge_idempotency_keys() -> int:
    """Delete idempotency keys older than IDEMPOTENCY_KEY_TTL_SECONDS; return how many."""
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=_idempotency_cutoff()).delete()
    return deleted
