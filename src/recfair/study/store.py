"""The study store: one DuckDB file (``DIR/study.duckdb``) plus one artefact folder per cell.

Crash-safety protocol (STUDY.md; checked by a ``kill -9`` test):

1. The runner writes a cell's artefacts into :meth:`Store.staging_dir`
   (``cells/.tmp-<id>-<pid>/``).
2. :meth:`Store.commit_cell` fsyncs them and renames the folder to
   ``cells/<id>/`` (atomic on one file system).
3. One DuckDB transaction deletes any rows of the cell, inserts its table rows
   and the ``cells`` row last, and commits.

A cell is *done* iff its ``cells`` row has status ``done``.  Opening the store
for writing deletes ``.tmp-*`` folders and every ``cells/<id>/`` without a done
row (a kill between 2 and 3), so a killed writer leaves no half cell, and a
done cell cannot be committed twice.  DuckDB's file lock makes the store
single-writer: a second writing process gets :data:`STORE_LOCKED`.

>>> with Store(tmp_dir) as store:                                  # doctest: +SKIP
...     work = store.staging_dir("c0ffee")
...     (work / "recommendations.parquet").write_bytes(data)
...     store.commit_cell({"cell_id": "c0ffee", "model": "bpr", "seed": 0},
...                       {"user_metrics": per_user_rows}, work)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pandas as pd

from recfair.errors import RecfairError, require
from recfair.runs.artifacts import fsync_path
from recfair.study.rows import (
    BAD_CELL_ID,
    EXTRA_COLUMN,
    MISSING_COLUMN,
    UNKNOWN_CELL_KEY,
    UNKNOWN_TABLE,
    canonical_json,
    cell_row,
    check_cell_id,
    checked_frame,
    fsync_tree,
    notify,
    sql_path,
)
from recfair.study.schema import CELL_TABLES, PAIR_TABLES, SCHEMA, SCHEMA_VERSION

log = logging.getLogger(__name__)

__all__ = [
    "BAD_CELL_ID", "CELL_DONE", "EXTRA_COLUMN", "MISSING_COLUMN", "NOT_DONE", "NO_STORE", "READ_ONLY", "READ_WAIT",
    "STATUS_COLUMNS", "STORE_FILE", "STORE_LOCKED", "UNKNOWN_CELL_KEY", "UNKNOWN_TABLE", "Store",
]

STORE_FILE = "study.duckdb"
CELLS_DIR = "cells"
STAGING_PREFIX = ".tmp-"
STATUS_COLUMNS = ("cell_id", "model", "mitigation", "seed", "status", "error")

STORE_LOCKED = "The study store {path} is open for writing in another process; a store has one writer at a time."
#: Seconds a reader (status, report, compare) retries while a runner commits a cell.
READ_WAIT = 30.0
LOCK_POLL = 0.1
NO_STORE = "No study store at {path}. Run a study first (recfair study run FILE --out DIR)."
CELL_DONE = "Cell {cell_id} is already stored as done; a done cell is never written twice."
NOT_DONE = "Cell {cell_id} is not a done cell of this store (comparisons need two done cells)."
READ_ONLY = "This study store was opened read-only; open it with Store(path) to write."


class Store:
    """A study's DuckDB store and cell folders.

    Parameters
    ----------
    root : path
        The study folder; ``study.duckdb`` and ``cells/`` live in it (created when writing).
    read_only : bool
        Open an existing store for reading only (the report does); no recovery runs.
    wait : float, optional
        Seconds to keep retrying while another process holds the file (a runner
        holds it only while it commits a cell).  Default: :data:`READ_WAIT` for
        readers, 0 for writers.

    Attributes
    ----------
    recovered : tuple of str
        Folders deleted on open (staging folders and cell folders without a done row).
    """

    def __init__(self, root: str | Path, *, read_only: bool = False, wait: float | None = None) -> None:
        self.root = Path(root)
        self.path = self.root / STORE_FILE
        self.cells_dir = self.root / CELLS_DIR
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise RecfairError(NO_STORE.format(path=self.path))
        if not read_only:
            self.cells_dir.mkdir(parents=True, exist_ok=True)
        self.con = self._connect(READ_WAIT if wait is None and read_only else (wait or 0.0))
        self.recovered: tuple[str, ...] = ()
        if not read_only:
            self._create()
            self.recovered = self._recover()

    # ------------------------------------------------------------ lifecycle
    def _connect(self, wait: float) -> Any:
        """A DuckDB connection; retried for ``wait`` seconds while another process holds the file lock."""
        duckdb = require("duckdb", extra="report", feature="The study store")
        deadline = time.monotonic() + wait
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=self.read_only)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() >= deadline:
                    raise RecfairError(STORE_LOCKED.format(path=self.path)) from exc
                time.sleep(LOCK_POLL)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        self.con.close()

    def _create(self) -> None:
        for name, columns in SCHEMA.items():
            cols = ", ".join(f'"{c}" {t}' for c, t in columns)
            key = ', PRIMARY KEY ("cell_id")' if name == "cells" else (', PRIMARY KEY ("key")' if name == "meta" else "")
            self.con.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({cols}{key})')
        self.con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])

    def _recover(self) -> tuple[str, ...]:
        """Delete staging folders and cell folders that have no done row."""
        done = self.done_ids()
        removed = []
        for entry in sorted(self.cells_dir.iterdir()):
            if entry.name.startswith(STAGING_PREFIX) or (entry.is_dir() and entry.name not in done):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
                removed.append(entry.name)
        if removed:
            log.warning("study store %s: removed %d unfinished folder(s): %s", self.root, len(removed), removed)
        return tuple(removed)

    # ---------------------------------------------------------------- write
    def _writable(self) -> None:
        if self.read_only:
            raise RecfairError(READ_ONLY)

    def staging_dir(self, cell_id: str) -> Path:
        """A fresh, empty ``cells/.tmp-<id>-<pid>/`` folder for a cell's artefacts."""
        self._writable()
        check_cell_id(cell_id)
        path = self.cells_dir / f"{STAGING_PREFIX}{cell_id}-{os.getpid()}"
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def set_meta(self, key: str, value: Any) -> None:
        """Store one study-level value (the study config, recfair version…) as JSON text."""
        self._writable()
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, canonical_json(value)])

    def commit_cell(
        self,
        cell: Mapping[str, Any],
        tables: Mapping[str, pd.DataFrame] | None = None,
        artefact_dir: str | Path | None = None,
        *,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        """Make a finished cell visible: artefacts renamed into place, then one transaction.

        Parameters
        ----------
        cell : mapping
            The ``cells`` row: ``cell_id`` and any of :data:`~recfair.study.schema.CELL_COLUMNS`
            (dict / list values of JSON columns are stored as canonical JSON).
        tables : mapping of table name → DataFrame
            Rows of the cell's tables (:data:`~recfair.study.schema.CELL_TABLES`), without ``cell_id``.
        artefact_dir : path, optional
            Folder of the cell's artefacts (ideally from :meth:`staging_dir`); it is
            renamed to ``cells/<id>/``.
        on_step : callable, optional
            Called with ``"renamed"``, ``"inserted"`` (rows in, not committed) and
            ``"committed"`` — for progress and for crash tests.
        """
        self._writable()
        row = cell_row(cell, status="done")
        frames = {name: checked_frame(name, frame, CELL_TABLES) for name, frame in (tables or {}).items()}
        cell_id = row["cell_id"]
        if self.is_done(cell_id):
            raise RecfairError(CELL_DONE.format(cell_id=cell_id))
        target = None
        if artefact_dir is not None:
            target = self._place(Path(artefact_dir), cell_id)
            row["artefacts"] = f"{CELLS_DIR}/{cell_id}"
        notify(on_step, "renamed")
        try:
            self.con.begin()
            self._delete_cell_rows(cell_id)
            for name, frame in frames.items():
                self._insert(name, frame.assign(cell_id=cell_id))
            notify(on_step, "inserted")
            self._insert("cells", pd.DataFrame([row]))
            self.con.commit()
        except BaseException:
            self.con.rollback()
            if target is not None and target.exists():
                shutil.rmtree(target)
            raise
        notify(on_step, "committed")

    def record_failure(self, cell: Mapping[str, Any], error: str | BaseException) -> None:
        """Store a failed cell (status ``failed`` and the error); a later run may retry it."""
        self._writable()
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        row = cell_row({**cell, "error": text}, status="failed")
        if self.is_done(row["cell_id"]):
            raise RecfairError(CELL_DONE.format(cell_id=row["cell_id"]))
        self.con.begin()
        try:
            self._delete_cell_rows(row["cell_id"])
            self._insert("cells", pd.DataFrame([row]))
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise

    def put_comparison(self, cell_a: str, cell_b: str, tables: Mapping[str, pd.DataFrame]) -> None:
        """Store (or replace) the comparison of done cells ``cell_b`` vs baseline ``cell_a``.

        ``tables``: ``{"comparisons": Comparison.groups, "comparison_gaps": Comparison.gaps}``.
        """
        self._writable()
        for cid in (cell_a, cell_b):
            if not self.is_done(cid):
                raise RecfairError(NOT_DONE.format(cell_id=cid))
        frames = {name: checked_frame(name, frame, PAIR_TABLES) for name, frame in tables.items()}
        self.con.begin()
        try:
            for name in PAIR_TABLES:
                self.con.execute(f'DELETE FROM "{name}" WHERE cell_a = ? AND cell_b = ?', [cell_a, cell_b])
            for name, frame in frames.items():
                self._insert(name, frame.assign(cell_a=cell_a, cell_b=cell_b))
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise

    def _place(self, source: Path, cell_id: str) -> Path:
        """fsync ``source`` and rename it to ``cells/<cell_id>`` (copying first if it lives elsewhere)."""
        if source.resolve().parent != self.cells_dir.resolve():
            staged = self.staging_dir(cell_id)
            shutil.rmtree(staged)
            shutil.copytree(source, staged)
            source = staged
        fsync_tree(source)
        target = self.cells_dir / cell_id
        if target.exists():  # a leftover of an earlier crash in this process: not done, so not visible
            shutil.rmtree(target)
        os.rename(source, target)
        fsync_path(self.cells_dir)
        return target

    def _delete_cell_rows(self, cell_id: str) -> None:
        for name in CELL_TABLES:
            self.con.execute(f'DELETE FROM "{name}" WHERE cell_id = ?', [cell_id])
        self.con.execute("DELETE FROM cells WHERE cell_id = ?", [cell_id])

    def _insert(self, name: str, frame: pd.DataFrame) -> None:
        columns = SCHEMA[name]
        present = [(c, t) for c, t in columns if c in frame.columns]
        view = f"_recfair_{name}"
        self.con.register(view, frame)
        try:
            cols = ", ".join(f'"{c}"' for c, _ in present)
            casts = ", ".join(f'CAST("{c}" AS {t})' for c, t in present)
            self.con.execute(f'INSERT INTO "{name}" ({cols}) SELECT {casts} FROM "{view}"')
        finally:
            self.con.unregister(view)

    # ----------------------------------------------------------------- read
    def done_ids(self) -> set[str]:
        """Ids of every done cell."""
        return {r[0] for r in self.con.execute("SELECT cell_id FROM cells WHERE status = 'done'").fetchall()}

    def is_done(self, cell_id: str) -> bool:
        """Whether ``cell_id`` is stored with status done."""
        return self.con.execute(
            "SELECT count(*) FROM cells WHERE cell_id = ? AND status = 'done'", [cell_id]).fetchone()[0] > 0

    def meta(self) -> dict[str, Any]:
        """Study-level values (JSON decoded where possible)."""
        out = {}
        for key, value in self.con.execute("SELECT key, value FROM meta ORDER BY key").fetchall():
            try:
                out[key] = json.loads(value)
            except (TypeError, json.JSONDecodeError):
                out[key] = value
        return out

    def table(self, name: str, cell_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """A whole table (or the rows of some cells), columns in schema order."""
        if name not in SCHEMA:
            raise RecfairError(UNKNOWN_TABLE.format(name=name, tables=", ".join(SCHEMA)))
        sql = f'SELECT * FROM "{name}"'
        params: list[Any] = []
        if cell_ids is not None:
            ids = list(cell_ids)
            key = "cell_b" if name in PAIR_TABLES else "cell_id"
            sql += f" WHERE {key} IN (SELECT unnest(?))"
            params = [ids]
        return self.con.execute(sql + " ORDER BY rowid", params).df()

    def cells(self) -> pd.DataFrame:
        """The ``cells`` table, JSON columns still as text, ordered by start time then id."""
        return self.con.execute("SELECT * FROM cells ORDER BY started NULLS LAST, cell_id").df()

    def per_user(self, cell_id: str) -> pd.DataFrame:
        """A cell's per-user metrics, wide: index ``user_id`` (raw id), one column per metric."""
        long = self.con.execute(
            "SELECT user_id, metric, value FROM user_metrics WHERE cell_id = ? ORDER BY rowid", [cell_id]).df()
        wide = long.pivot(index="user_id", columns="metric", values="value")
        wide.columns.name = None
        return wide[list(dict.fromkeys(long["metric"]))].sort_index()

    def user_groups(self, cell_id: str) -> pd.DataFrame:
        """A cell's user groups, wide: index ``user_id``, one column per attribute (``None`` = no group)."""
        long = self.con.execute(
            'SELECT user_id, attribute, "group" FROM user_groups WHERE cell_id = ? ORDER BY rowid', [cell_id]).df()
        wide = long.pivot(index="user_id", columns="attribute", values="group")
        wide.columns.name = None
        return wide[list(dict.fromkeys(long["attribute"]))].sort_index()

    def status(self, planned: Iterable[Mapping[str, Any]] | None = None) -> pd.DataFrame:
        """One row per cell: ``cell_id, model, mitigation, seed, status, error``.

        ``planned`` (the study's resolved cells) adds ``pending`` rows for cells
        not stored yet; planned cells come first, in plan order.
        """
        stored = self.con.execute(
            "SELECT cell_id, model, mitigation, seed, status, error FROM cells ORDER BY started NULLS LAST, cell_id"
        ).df()
        by_id = {r["cell_id"]: r for r in stored.to_dict("records")}
        rows = []
        for cell in planned or ():
            cid = str(cell["cell_id"])
            rows.append(by_id.pop(cid, None) or {
                "cell_id": cid, "model": cell.get("model"), "mitigation": cell.get("mitigation"),
                "seed": cell.get("seed"), "status": "pending", "error": None})
        rows.extend(by_id.values())
        out = pd.DataFrame(rows, columns=list(STATUS_COLUMNS))
        out["seed"] = out["seed"].astype("Int64")
        return out

    def export_parquet(self, out_dir: str | Path) -> list[Path]:
        """Write every table to ``out_dir/<table>.parquet`` (atomically per file); return the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in SCHEMA:
            final = out / f"{name}.parquet"
            tmp = out / f".{name}.parquet.tmp"
            self.con.execute(f"COPY (SELECT * FROM \"{name}\" ORDER BY rowid) TO '{sql_path(tmp)}' (FORMAT parquet)")
            os.replace(tmp, final)
            paths.append(final)
        return paths
