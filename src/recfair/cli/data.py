"""`recfair data …`: inspect data sets (``info``; other modules add commands such as ``audit``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from recfair.cli import common as C

from recfair.errors import RecfairError

UNKNOWN_FETCH = "Unknown data set '{name}' to fetch. Available: ml-100k."

data_app = typer.Typer(
    help="Inspect data sets: built-in names (ml-100k, synthetic) or paths (RecBole atomic, MovieLens, CSV, Parquet).",
    no_args_is_help=True,
)


def info_rows(summary: dict) -> list[tuple[str, str]]:
    """The (field, value) rows ``recfair data info`` prints, from :meth:`Dataset.summary`."""
    rows = [
        ("name", str(summary["name"])),
        ("users", f"{summary['users']:,} ({summary['users_with_interactions']:,} with interactions)"),
        ("items", f"{summary['items']:,} ({summary['items_with_interactions']:,} with interactions)"),
        ("interactions", f"{summary['interactions']:,}"),
        ("density", f"{summary['density']:.6f}"),
    ]
    if summary.get("has_rating") and "rating_min" in summary:
        rows.append(("rating range", f"{summary['rating_min']:g} – {summary['rating_max']:g} "
                                     f"(mean {summary['rating_mean']:.4f})"))
    else:
        rows.append(("rating range", "none (implicit feedback)"))
    if summary.get("rating_scale"):
        lo, hi = summary["rating_scale"]
        rows.append(("rating scale", f"{lo:g} – {hi:g} (declared)"))
    rows.append(("timestamps", "yes" if summary.get("has_timestamp") else "no"))
    rows.append(("user attributes", ", ".join(summary["user_attributes"]) or "none"))
    rows.append(("item attributes", ", ".join(summary["item_attributes"]) or "none"))
    return rows


@data_app.command("info")
def info(
    name_or_path: str = typer.Argument(..., metavar="NAME_OR_PATH",
                                       help="ml-100k, synthetic, or a folder / file to load."),
    sep: Optional[str] = C.SEP, user_col: Optional[str] = C.USER_COL, item_col: Optional[str] = C.ITEM_COL,
    rating_col: Optional[str] = C.RATING_COL, timestamp_col: Optional[str] = C.TIMESTAMP_COL,
    duplicates: Optional[str] = C.DUPLICATES, users_file: Optional[Path] = C.USERS_FILE,
    items_file: Optional[Path] = C.ITEMS_FILE, encoding: Optional[str] = C.ENCODING,
    rating_scale: Optional[str] = C.RATING_SCALE,
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of a table."),
) -> None:
    """Users, items, interactions, density, rating range and attribute columns of a data set."""
    from rich.table import Table

    from recfair.data import fingerprint, load_dataset

    kw = C.data_options(sep, user_col, item_col, rating_col, timestamp_col, duplicates, users_file, items_file, encoding,
                        rating_scale)
    ds = load_dataset(name_or_path, **kw)
    summary = {**ds.summary(), "fingerprint": fingerprint(ds)}
    if as_json:
        C.print_json(summary)
        return
    table = Table(title=f"Data set {ds.name}", show_header=True)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for field, value in info_rows(summary):
        table.add_row(field, value)
    C.console().print(table)


@data_app.command("fetch")
def fetch(
    name: str = typer.Argument("ml-100k", help="Data set to obtain (available: ml-100k)."),
    force: bool = typer.Option(False, "--force", help="Download again even when present."),
) -> None:
    """Obtain a public data set into the data folder ($RECFAIR_DATA or ~/.cache/recfair/data)."""
    from recfair.data.fetch import fetch_ml100k, have_ml100k

    if name != "ml-100k":
        raise RecfairError(UNKNOWN_FETCH.format(name=name))
    already = have_ml100k() and not force
    path = fetch_ml100k(force=force)
    C.info(f"{name}: {'already present in' if already else 'obtained into'} {path}")


def register(app: typer.Typer) -> None:
    """Mount the ``recfair data`` command group (``info``, ``fetch``, …) on ``app``."""
    app.add_typer(data_app, name="data")
