"""The runner's hold on a study store: a run lock for the whole run, the database only while writing.

DuckDB lets one process hold a database file open for writing and then no
other process may even read it.  A study runs for minutes, so
:class:`StoreWriter` keeps the file closed between cells: every write (a
cell's commit, a failure, a comparison) opens the store, runs one transaction
and closes it again, and ``recfair study status`` / ``recfair report`` read in
between (their read-only opens retry for :data:`~recfair.study.store.READ_WAIT`
seconds while a commit is under way).  A second runner on the same folder is
still refused: the writer holds an exclusive lock on ``DIR/.runner.lock`` for
the whole run (advisory, released by the OS when the process dies, so a
``kill -9`` never leaves the study locked).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

from recfair.errors import RecfairError
from recfair.study.store import CELLS_DIR, Store

__all__ = ["RUN_LOCK_FILE", "RUN_LOCKED", "WRITE_WAIT", "StoreWriter"]

RUN_LOCK_FILE = ".runner.lock"
RUN_LOCKED = "Another `recfair study run` is writing the study in {root} (lock {path}); wait for it to finish."
#: Seconds a runner retries opening the store while a reader holds it.
WRITE_WAIT = 120.0


class StoreWriter:
    """Holds ``DIR/.runner.lock`` from :meth:`acquire` to :meth:`release`; opens the store per operation.

    Opening the store for writing recovers unfinished folders, so a cell's
    staging and commit must happen in one :meth:`session`.

    >>> with StoreWriter(root) as writer:                       # doctest: +SKIP
    ...     writer.commit_cell(row, tables, work)               # opens, commits, closes
    """

    def __init__(self, root: str | Path, wait: float = WRITE_WAIT) -> None:
        self.root = Path(root)
        self.cells_dir = self.root / CELLS_DIR
        self.wait = wait
        self._lock: Any = None

    def acquire(self) -> "StoreWriter":
        """Take the run lock (raise :data:`RUN_LOCKED` when another runner holds it) and create the store."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / RUN_LOCK_FILE
        handle = open(path, "a+b")  # noqa: SIM115 - held until release()
        try:
            import fcntl
        except ImportError:  # not a POSIX system: DuckDB's own lock still guards each write
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                handle.close()
                raise RecfairError(RUN_LOCKED.format(root=self.root, path=path)) from exc
        self._lock = handle
        with self.session():
            pass  # creates the tables and recovers unfinished folders of a killed run
        return self

    def release(self) -> None:
        """Drop the run lock (idempotent)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> "StoreWriter":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    @contextlib.contextmanager
    def session(self) -> Iterator[Store]:
        """The store open for writing, closed on exit (keep it short: readers wait meanwhile)."""
        store = Store(self.root, wait=self.wait)
        try:
            yield store
        finally:
            store.close()

    def __getattr__(self, name: str) -> Any:
        """Any other :class:`Store` method, run in its own short session."""
        if name.startswith("_") or not callable(getattr(Store, name, None)):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self.session() as store:
                return getattr(store, name)(*args, **kwargs)

        call.__name__ = name
        return call

