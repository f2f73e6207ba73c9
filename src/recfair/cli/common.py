"""Pieces every command shares: the console (``--quiet``), result tables, JSON output, data options.

The data-loading options (CSV column mapping, attribute files, encoding) are
declared once here and used by ``data info``, ``train`` and ``audit``, so a
file that loads in one command loads the same way in the others.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Optional

import typer

if TYPE_CHECKING:  # rich is imported lazily at run time
    from rich.console import Console
    from rich.table import Table

#: Global output switches, set by the ``recfair`` callback (``--quiet``).
STATE: dict[str, bool] = {"quiet": False}


def console(*, stderr: bool = False) -> Console:
    """A rich console: wide when piped (result tables don't wrap), silent under ``--quiet`` (stdout only)."""
    from rich.console import Console

    c = Console(stderr=stderr)
    kw: dict[str, Any] = {"stderr": stderr, "quiet": STATE["quiet"] and not stderr}
    if not c.is_terminal:
        kw["width"] = max(c.width, 160)
    return Console(**kw)


def info(message: str) -> None:
    """An informational line on stdout (suppressed by ``--quiet``)."""
    if not STATE["quiet"]:
        typer.echo(message)


def warn(message: str) -> None:
    """A warning on stderr (never stdout, kept under ``--quiet``)."""
    typer.echo(f"warning: {message}", err=True)


def print_json(payload: Any) -> None:
    """Machine-readable output on stdout (printed even under ``--quiet``)."""
    sys.stdout.write(json.dumps(payload, indent=2, default=_json_default, allow_nan=True) + "\n")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def metrics_table(rows: list[dict[str, Any]], columns: list[str], title: str) -> Table:
    """A rich table of rows (floats with 4 decimals)."""
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "metric", "grouping", "group") else "right")
    for row in rows:
        cells = []
        for col in columns:
            v = row.get(col, "")
            cells.append(f"{v:.4f}" if isinstance(v, float) else str(v))
        table.add_row(*cells)
    return table


def headline(k: int) -> list[str]:
    """The metrics ``train`` and ``demo`` print."""
    return [f"ndcg@{k}", f"recall@{k}", f"coverage@{k}", f"gini@{k}", f"aplt@{k}"]


# ---- data options, shared by data info / train / audit / probe
SEP = typer.Option(None, "--sep", help="Delimiter of a CSV file (default ',').")
USER_COL = typer.Option(None, "--user-col", help="User id column of a CSV/Parquet file.")
ITEM_COL = typer.Option(None, "--item-col", help="Item id column of a CSV/Parquet file.")
RATING_COL = typer.Option(None, "--rating-col", help="Rating column of a CSV/Parquet file.")
TIMESTAMP_COL = typer.Option(None, "--timestamp-col", help="Timestamp column.")
DUPLICATES = typer.Option(None, "--duplicates", help="Policy for repeated (user, item) pairs: error, first, last, mean.")
USERS_FILE = typer.Option(None, "--users-file", help="CSV of user attributes (CSV data sets).")
ITEMS_FILE = typer.Option(None, "--items-file", help="CSV of item attributes (CSV data sets).")
ENCODING = typer.Option(None, "--encoding", help="Text encoding of the data files (default utf-8).")
RATING_SCALE = typer.Option(None, "--rating-scale", metavar="MIN,MAX",
                            help="Declared rating scale, e.g. 1,5: a rating outside it is an error "
                                 "(ml-100k declares 1,5).")


def data_options(sep: Optional[str] = None, user_col: Optional[str] = None, item_col: Optional[str] = None,
                 rating_col: Optional[str] = None, timestamp_col: Optional[str] = None,
                 duplicates: Optional[str] = None, users_file: Optional[str] = None,
                 items_file: Optional[str] = None, encoding: Optional[str] = None,
                 rating_scale: Optional[str] = None) -> dict[str, Any]:
    """The loader keyword arguments the options name (``None`` = loader default, left out)."""
    from recfair.data.dataset import rating_scale_of

    given = {"sep": sep, "user_col": user_col, "item_col": item_col, "rating_col": rating_col,
             "timestamp_col": timestamp_col, "duplicates": duplicates,
             "users_path": None if users_file is None else str(users_file),
             "items_path": None if items_file is None else str(items_file), "encoding": encoding,
             "rating_scale": None if rating_scale is None else list(rating_scale_of(rating_scale))}
    return {k: v for k, v in given.items() if v is not None}
