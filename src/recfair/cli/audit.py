"""`recfair audit RUN_DIR` and `recfair data audit NAME_OR_PATH`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from recfair.cli import common as C

if TYPE_CHECKING:  # rich is imported lazily at run time
    from rich.table import Table

AUDIT_DIR = "audit"
SHOW_DEFAULT = "ndcg,recall"


def _console():
    from rich.console import Console

    console = Console()
    # piped output defaults to 80 columns, which truncates the item table
    return console if console.is_terminal else Console(width=max(console.width, 130))


def _f(x, digits: int = 4) -> str:
    import math

    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _p(p) -> str:
    import math

    if p is None or math.isnan(p):
        return "–"
    return f"{p:.4f}" if p >= 1e-3 else f"{p:.1e}"


def user_tables(result, metrics: list[str]) -> list[Table]:
    """One rich table per user attribute: group rows × metric columns (mean [CI]), then gap / ratio / p."""
    from rich.table import Table

    groups, gaps = result.user_groups, result.user_gaps
    conf = int(round(100 * float(result.meta.get("confidence", 0.95))))
    tables = []
    for attribute in dict.fromkeys(gaps["attribute"]):
        shown = [m for m in metrics if ((gaps["attribute"] == attribute) & (gaps["metric"] == m)).any()]
        if not shown:
            continue
        t = Table(title=f"{attribute}: mean [{conf}% bootstrap CI]", title_justify="left")
        t.add_column("group")
        t.add_column("n", justify="right")
        for m in shown:
            t.add_column(m, justify="right")
        sel = groups[(groups["attribute"] == attribute) & (groups["metric"] == shown[0])]
        for label, n in zip(sel["group"], sel["n"]):
            cells = []
            for m in shown:
                r = groups[(groups["attribute"] == attribute) & (groups["metric"] == m) & (groups["group"] == label)].iloc[0]
                cells.append(f"{_f(r['value'])} [{_f(r['ci_low'])}, {_f(r['ci_high'])}]")
            t.add_row(str(label), str(n), *cells)
        gap_rows = [gaps[(gaps["attribute"] == attribute) & (gaps["metric"] == m)].iloc[0] for m in shown]
        t.add_section()
        t.add_row("gap (max − min)", "", *[
            f"{_f(g['gap'])} [{_f(g['gap_ci_low'])}, {_f(g['gap_ci_high'])}]" for g in gap_rows])
        t.add_row("  max − min group", "", *[f"{g['max_group']} − {g['min_group']}" for g in gap_rows])
        t.add_row("ratio (min / max)", "", *[_f(g["ratio"], 3) for g in gap_rows])
        t.add_row("permutation p", "", *[_p(g["p_value"]) for g in gap_rows])
        tables.append(t)
    return tables


def item_tables(result) -> list[Table]:
    """Item-side tables: popularity groups (exposure vs catalogue/test shares), RSP/REO, list-level metrics."""
    from rich.table import Table

    ig = result.item_groups
    t = Table(title="Item groups: shares of catalogue, training, test relevance, list slots, exposure", title_justify="left")
    for col, just in [("grouping", "left"), ("group", "left"), ("items", "right"), ("catalogue", "right"),
                      ("train", "right"), ("test", "right"), ("slots", "right"), ("exposure", "right"),
                      ("P(rec)", "right"), ("P(rec|rel)", "right")]:
        t.add_column(col, justify=just)
    for _, r in ig[ig["attribute"].str.startswith(("popularity", "tiers"))].iterrows():
        t.add_row(r["attribute"], r["group"], str(r["n_items"]), _f(r["catalogue_share"], 3), _f(r["train_share"], 3),
                  _f(r["test_share"], 3), _f(r["rec_share"], 3), _f(r["exposure_share"], 3), _f(r["p_rec"]),
                  _f(r["p_rec_relevant"]))
    f = Table(title="Item-group fairness (RSP / REO; PopRSP / PopREO for popularity)", title_justify="left")
    f.add_column("grouping")
    f.add_column("metric")
    f.add_column("value", justify="right")
    f.add_column("groups", justify="right")
    for _, r in result.item_fairness.iterrows():
        f.add_row(r["attribute"], r["metric"], _f(r["value"]), str(r["n_groups"]))
    m = Table(title="List-level metrics (mean over users)", title_justify="left")
    m.add_column("metric")
    m.add_column("value", justify="right")
    m.add_column("users", justify="right")
    for _, r in result.item_metrics.iterrows():
        m.add_row(r["metric"], _f(r["value"]), str(r["n_users"]))
    return [t, f, m]


SMALL_GROUPS = ("{grouping}: {n} group(s) with fewer than {min} users ({groups}); their CIs are NaN and they are "
                "left out of the gap and the permutation test")
SHOW_WHERE = "--show"


def show_columns(show: str, k: int) -> list[str]:
    """``--show`` names → ``name@k`` columns; an unknown name is an error listing the valid ones."""
    import recfair.metrics  # noqa: F401  (registers the per-user metrics)
    from recfair.metrics.evaluate import PER_USER_METRICS
    from recfair.runs.checks import check_names, split_names

    names = check_names(split_names(show), list(PER_USER_METRICS), what="metric", where=SHOW_WHERE)
    return [f"{n}@{k}" for n in names]


def small_group_notes(result) -> list[str]:
    """One line per user grouping summarising its groups too small for a CI."""
    g = result.user_groups
    limit = int(result.meta.get("min_group_size", 2))
    notes = []
    for attribute in dict.fromkeys(g["attribute"]):
        small = g[(g["attribute"] == attribute) & (g["n"] < limit)].drop_duplicates("group")
        if len(small):
            listed = ", ".join(f"{r.group}: {r.n}" for r in small.itertuples())
            notes.append(SMALL_GROUPS.format(grouping=attribute, n=len(small), min=limit, groups=listed))
    return notes


def rating_tables(run, groups: str, result) -> list:
    """RMSE / MAE by group and Yao & Huang's measures for rating models (added to ``result``'s tables)."""
    from recfair.cli.common import metrics_table
    from recfair.runs.pipeline import is_rating_model
    from recfair.runs.rating import rating_by_group

    if not (run.path / "model").is_dir() or not is_rating_model(run.model, run.split):
        return []
    by_group, unfair = rating_by_group(run.model, run.split, groups)
    result.tables["rating_groups"], result.tables["rating_unfairness"] = by_group, unfair
    return [metrics_table(by_group.to_dict("records"), list(by_group.columns), "Rating error by user group"),
            metrics_table(unfair.to_dict("records"), list(unfair.columns),
                          "Rating unfairness (Yao & Huang 2017): group vs the rest")]


def audit_run(
    run_dir: Path = typer.Argument(..., help="Run folder written by `recfair train --out`."),
    groups: str = typer.Option("gender,age,activity", "--groups", help="User groupings, e.g. gender,age,activity,gender*age."),
    item_groups: str = typer.Option("popularity,tiers,genres", "--item-groups", help="Item groupings: popularity,tiers,genres,year…"),
    k: int = typer.Option(10, "--k", help="Cut-off."),
    n_bootstrap: int = typer.Option(1000, "--n-bootstrap", help="Bootstrap resamples per group."),
    n_permutations: int = typer.Option(2000, "--n-permutations", help="Permutations per test."),
    seed: int = typer.Option(0, "--seed", help="Seed of the resampling, in [0, 2**32)."),
    show: str = typer.Option(SHOW_DEFAULT, "--show", help="Metrics to print (names without @k); all are saved."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write the tables (default RUN_DIR/audit)."),
    as_json: bool = typer.Option(False, "--json", help="Print the tables as JSON instead of rich tables."),
) -> None:
    """Audit a trained run for user- and item-side fairness; print the summary and save the tables."""
    import warnings

    from recfair.cli.common import console as make_console
    from recfair.cli.common import print_json, warn
    from recfair.errors import RecfairError
    from recfair.fairness.audit import audit
    from recfair.runs import Run
    from recfair.runs.checks import check_seed

    check_seed(seed)
    if k < 1:
        raise RecfairError(f"The 'k' parameter of audit must be a positive int. Got {k} instead.")
    shown = show_columns(show, k)
    if out is not None and out.exists() and not out.is_dir():
        raise RecfairError(f"--out {out} is a file; name a folder")
    console = make_console()
    run = Run(run_dir)
    recs = run.recommendations()
    if recs.k < k:
        raise RecfairError(f"{run_dir} holds top-{recs.k} lists; --k must be at most {recs.k}. Got {k} instead.")
    item_spec = item_groups
    if "genres" in item_groups and "genres" not in run.split.train.items.columns:
        item_spec = ",".join(s for s in item_groups.split(",") if s.strip() != "genres")
    with console.status("Auditing…"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small groups are summarised once per grouping below
        result = audit(recs, run.split, groups=groups, item_groups=item_spec, k=k, n_bootstrap=n_bootstrap,
                       n_permutations=n_permutations, seed=seed)
    extra = rating_tables(run, groups, result)
    target = result.save(out or run.path / AUDIT_DIR)
    for note in small_group_notes(result):
        warn(note)
    if as_json:
        import json

        print_json(json.loads(result.to_json()))
        return
    m = result.meta
    console.print(f"[bold]Fairness audit[/] of {run.config.model} on {run.config.dataset} "
                  f"({m['n_users']} test users, k={k}, {n_bootstrap} bootstrap resamples, "
                  f"{n_permutations} permutations, seed {seed})")
    for table in [*user_tables(result, shown), *item_tables(result), *extra]:
        console.print(table)
    console.print(f"Tables written to {target}")


def audit_data_cmd(
    name_or_path: str = typer.Argument(..., help="Data set name (ml-100k) or path."),
    groups: str = typer.Option("gender,age,activity", "--groups", help="User groupings."),
    item_groups: Optional[str] = typer.Option(None, "--item-groups", help="Item groupings (default popularity,tiers[,genres])."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder to write the tables to."),
    sep: Optional[str] = C.SEP, user_col: Optional[str] = C.USER_COL, item_col: Optional[str] = C.ITEM_COL,
    rating_col: Optional[str] = C.RATING_COL, timestamp_col: Optional[str] = C.TIMESTAMP_COL,
    duplicates: Optional[str] = C.DUPLICATES, users_file: Optional[Path] = C.USERS_FILE,
    items_file: Optional[Path] = C.ITEMS_FILE, encoding: Optional[str] = C.ENCODING,
    rating_scale: Optional[str] = C.RATING_SCALE,
) -> None:
    """Audit a data set's interactions for bias before any model: shares, activity, ratings, concentration."""
    from rich.table import Table

    from recfair.data import load_dataset
    from recfair.fairness.data_audit import audit_data

    console = _console()
    ds = load_dataset(name_or_path, **C.data_options(sep, user_col, item_col, rating_col, timestamp_col, duplicates,
                                                     users_file, items_file, encoding, rating_scale))
    result = audit_data(ds, groups, item_groups)
    console.print(f"[bold]Data audit[/] of {ds.name}: {ds.n_users} users, {ds.n_items} items, "
                  f"{ds.n_interactions} interactions")
    u = Table(title="User groups: share of users vs share of interactions", title_justify="left")
    for col in ("attribute", "group", "users", "user share", "interaction share", "mean activity",
                "median activity", "mean rating"):
        u.add_column(col, justify="left" if col in ("attribute", "group") else "right")
    for _, r in result["user_groups"].iterrows():
        u.add_row(r["attribute"], r["group"], str(r["n_users"]), _f(r["user_share"], 3), _f(r["interaction_share"], 3),
                  _f(r["mean_activity"], 1), _f(r["median_activity"], 1), _f(r["mean_rating"], 3))
    console.print(u)
    rd = result["rating_distribution"]
    if len(rd):
        wide = rd.pivot_table(index=["attribute", "group"], columns="rating", values="share", sort=False)
        t = Table(title="Rating distribution (share of the group's ratings)", title_justify="left")
        t.add_column("attribute")
        t.add_column("group")
        for c in wide.columns:
            t.add_column(f"{c:g}", justify="right")
        for (a, g), row in wide.iterrows():
            t.add_row(a, g, *[_f(float(v), 3) for v in row])
        console.print(t)
    i = Table(title="Item groups: share of catalogue vs share of interactions", title_justify="left")
    for col in ("attribute", "group", "items", "catalogue share", "interaction share", "mean rating"):
        i.add_column(col, justify="left" if col in ("attribute", "group") else "right")
    for _, r in result["item_groups"].iterrows():
        i.add_row(r["attribute"], r["group"], str(r["n_items"]), _f(r["catalogue_share"], 3),
                  _f(r["interaction_share"], 3), _f(r["mean_rating"], 3))
    console.print(i)
    c = Table(title="Popularity concentration", title_justify="left")
    c.add_column("metric")
    c.add_column("value", justify="right")
    for _, r in result["concentration"].iterrows():
        c.add_row(r["metric"], _f(r["value"]))
    console.print(c)
    if out is not None:
        console.print(f"Tables written to {result.save(out)}")


def register(app: typer.Typer) -> None:
    """Add ``recfair audit RUN_DIR`` to ``app`` and ``audit`` to the ``recfair data`` group.

    The ``data audit`` command is skipped when :mod:`recfair.cli.data` is absent.
    """
    app.command("audit")(audit_run)
    try:
        from recfair.cli.data import data_app
    except ModuleNotFoundError as exc:  # the data command group is not built yet
        if exc.name != "recfair.cli.data":
            raise
        return
    data_app.command("audit")(audit_data_cmd)
