"""`recfair data …`: inspect data sets (``info``; other modules add commands such as ``audit``)."""

from __future__ import annotations

import json
from typing import Optional

import typer

from recfair.errors import RecfairError

UNKNOWN_FETCH = "Unknown data set '{name}' to fetch. Available: ml-100k."

data_app = typer.Typer(
    help="Inspect data sets: built-in names (ml-100k, synthetic) or paths (RecBole atomic, MovieLens, CSV, Parquet).",
    no_args_is_help=True,
)


def _loader_kwargs(sep, user_col, item_col, rating_col, timestamp_col, duplicates) -> dict:
    given = {"sep": sep, "user_col": user_col, "item_col": item_col, "rating_col": rating_col,
             "timestamp_col": timestamp_col, "duplicates": duplicates}
    return {k: v for k, v in given.items() if v is not None}


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
    rows.append(("timestamps", "yes" if summary.get("has_timestamp") else "no"))
    rows.append(("user attributes", ", ".join(summary["user_attributes"]) or "none"))
    rows.append(("item attributes", ", ".join(summary["item_attributes"]) or "none"))
    return rows


@data_app.command("info")
def info(
    name_or_path: str = typer.Argument(..., metavar="NAME_OR_PATH",
                                       help="ml-100k, synthetic, or a folder / file to load."),
    sep: Optional[str] = typer.Option(None, "--sep", help="Delimiter of a CSV file (default ',')."),
    user_col: Optional[str] = typer.Option(None, "--user-col", help="User id column of a CSV/Parquet file."),
    item_col: Optional[str] = typer.Option(None, "--item-col", help="Item id column of a CSV/Parquet file."),
    rating_col: Optional[str] = typer.Option(None, "--rating-col", help="Rating column of a CSV/Parquet file."),
    timestamp_col: Optional[str] = typer.Option(None, "--timestamp-col", help="Timestamp column."),
    duplicates: Optional[str] = typer.Option(
        None, "--duplicates", help="Policy for repeated (user, item) pairs: error, first, last, mean."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of a table."),
) -> None:
    """Users, items, interactions, density, rating range and attribute columns of a data set."""
    from rich.console import Console
    from rich.table import Table

    from recfair.data import load_dataset

    kw = _loader_kwargs(sep, user_col, item_col, rating_col, timestamp_col, duplicates)
    ds = load_dataset(name_or_path, **kw)
    summary = ds.summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    table = Table(title=f"Data set {ds.name}", show_header=True)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for field, value in info_rows(summary):
        table.add_row(field, value)
    Console().print(table)


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
    typer.echo(f"{name}: {'already present in' if already else 'obtained into'} {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
