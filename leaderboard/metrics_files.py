"""The multiprocess metrics folder: fold a dead worker's samples into one archive, read under a lock.

prometheus_client keeps every dead worker's counter and histogram files, so totals never go back;
but a scrape reads every file, and gunicorn recycles workers (max_requests): at 1,000 requests/s a
new pair of files every few seconds, and scrapes slow to many seconds within hours. So when a worker
exits its files are merged into `<type>_archive.db` (with the library's own merge, made for writing
merged data back) and removed. Readers hold a shared lock and the merge an exclusive one, so a
scrape never sees a sample twice or not at all. Imports no Django: gunicorn's master calls it.
"""

import contextlib
import fcntl
import os
from collections.abc import Iterator

from prometheus_client import multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict, mmap_key

LOCK_FILE = ".lock"  # not *.db: the collector reads only those
ARCHIVED_TYPES = ("counter", "histogram")


@contextlib.contextmanager
def locked(path: str, *, exclusive: bool) -> Iterator[None]:
    descriptor = os.open(os.path.join(path, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def collect(path: str) -> list[Metric]:
    """Every worker's samples, added up (what a scrape exports)."""
    with locked(path, exclusive=False):
        return list(multiprocess.MultiProcessCollector(None, path=path).collect())  # type: ignore[no-untyped-call]


def retire_worker(pid: int, path: str) -> None:
    """A worker exited: drop its live gauges, and fold its counters and histograms into the archive."""
    multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
    with locked(path, exclusive=True):
        for kind in ARCHIVED_TYPES:
            dead = os.path.join(path, f"{kind}_{pid}.db")
            if not os.path.exists(dead):
                continue
            archive = os.path.join(path, f"{kind}_archive.db")
            sources = [name for name in (archive, dead) if os.path.exists(name)]
            merged = multiprocess.MultiProcessCollector.merge(sources, accumulate=False)
            staging = archive + ".new"  # not *.db until it replaces the archive
            if os.path.exists(staging):
                os.remove(staging)
            target = MmapedDict(staging)  # type: ignore[no-untyped-call]
            try:
                for metric in merged:
                    for sample in metric.samples:
                        labels = dict(sample.labels)
                        key = mmap_key(
                            metric.name,
                            sample.name,
                            list(labels),
                            list(labels.values()),
                            metric.documentation,
                        )
                        target.write_value(key, sample.value, 0.0)  # type: ignore[no-untyped-call]
            finally:
                target.close()  # type: ignore[no-untyped-call]
            os.replace(staging, archive)
            os.remove(dead)
