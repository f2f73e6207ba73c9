"""Rows and folders for the study store: cell-row and table validation, canonical JSON, fsync.

Kept apart from :mod:`recfair.study.store` so the store module holds the
protocol and the queries only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from recfair.errors import RecfairError
from recfair.runs.artifacts import fsync_path
from recfair.study.schema import CELL_COLUMNS, JSON_COLUMNS

__all__ = [
    "BAD_CELL_ID", "EXTRA_COLUMN", "MISSING_COLUMN", "UNKNOWN_CELL_KEY", "UNKNOWN_TABLE",
    "canonical_json", "cell_row", "check_cell_id", "checked_frame", "fsync_tree", "notify", "sql_path",
]

_CELL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
BAD_CELL_ID = "Cell id {value!r} is not allowed: use 1-128 letters, digits, '_', '-' or '.', starting with a letter or digit."
UNKNOWN_CELL_KEY = "Cell key '{key}' is not a column of the cells table. Allowed keys: {allowed}."
UNKNOWN_TABLE = "Table '{name}' is not a table of the study store. Tables: {tables}."
MISSING_COLUMN = "Table '{name}' needs column '{column}'; the frame has: {present}."
EXTRA_COLUMN = "Table '{name}' has no column '{column}'. Its columns: {allowed}."


def canonical_json(value: Any) -> str | None:
    """Canonical JSON text (sorted keys, no spaces); ``None`` stays ``None``; text is kept as is."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def fsync_tree(root: Path) -> None:
    """Flush every file under ``root`` and the folders themselves to disk."""
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    for folder in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        fsync_path(folder)


def now_utc() -> str:
    """The current time as ISO-8601 UTC (seconds)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def check_cell_id(value: Any) -> str:
    """``value`` if it is a safe cell id (a folder name), else the :data:`BAD_CELL_ID` error."""
    if not isinstance(value, str) or not _CELL_ID.match(value):
        raise RecfairError(BAD_CELL_ID.format(value=value))
    return value


def cell_row(cell: Mapping[str, Any], status: str) -> dict[str, Any]:
    """A full ``cells`` row from a partial mapping: keys checked, JSON canonical, status and finish time set."""
    allowed = [c for c, _ in CELL_COLUMNS]
    for key in cell:
        if key not in allowed or key in ("status", "artefacts"):
            raise RecfairError(UNKNOWN_CELL_KEY.format(
                key=key, allowed=", ".join(c for c in allowed if c not in ("status", "artefacts"))))
    row = {c: cell.get(c) for c in allowed}
    check_cell_id(row["cell_id"])
    for c in JSON_COLUMNS:
        row[c] = canonical_json(row[c])
    row["status"] = status
    row["finished"] = row["finished"] or now_utc()
    return row


def checked_frame(name: str, frame: pd.DataFrame, tables: Mapping[str, tuple]) -> pd.DataFrame:
    """``frame`` with a fresh index if its columns are exactly those of table ``name``."""
    if name not in tables:
        raise RecfairError(UNKNOWN_TABLE.format(name=name, tables=", ".join(tables)))
    columns = [c for c, _ in tables[name]]
    for column in frame.columns:
        if column not in columns:
            raise RecfairError(EXTRA_COLUMN.format(name=name, column=column, allowed=", ".join(columns)))
    for column in columns:
        if column not in frame.columns:
            raise RecfairError(MISSING_COLUMN.format(name=name, column=column, present=list(frame.columns)))
    return frame.reset_index(drop=True)


def notify(on_step: Callable[[str], None] | None, step: str) -> None:
    """Call ``on_step(step)`` when a callback was given."""
    if on_step is not None:
        on_step(step)


def sql_path(path: Path) -> str:
    """A path as a single-quoted SQL literal's content."""
    return str(path).replace("'", "''")
