"""`recfair train`, `recfair evaluate`, `recfair export`: write a run folder, score it, export its lists."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from recfair.cli import common as C
from recfair.errors import RecfairError

SPLIT_CHOICES = ("random", "user-temporal", "global-temporal", "leave-last", "cold-users", "cold-items")

COLD_SPLIT = (
    "{name} cannot recommend on the cold-{what} split: it has no representation for {what} it was not trained on. "
    "Use one of: {models}."
)
BAD_SPLIT = "Unknown split '{split}'. Choose one of: {choices}."
BAD_K = "The 'k' parameter of {command} must be a positive int. Got {k} instead."


def check_k(k: int, command: str) -> int:
    """``--k`` must be a positive int."""
    if k < 1:
        raise RecfairError(BAD_K.format(command=command, k=k))
    return k


def check_cold_support(klass, split: str) -> None:
    """Refuse a cold-start split up front (before any training) for models that cannot serve it."""
    from recfair.errors import ColdStartError
    from recfair.models.registry import MODELS, get_model_class

    flag = {"cold-users": "supports_cold_users", "cold-items": "supports_cold_items"}.get(split)
    if flag is None or getattr(klass, flag):
        return
    # The capable models come from the registry's own flags, so this list can't drift.
    capable = [n for n in sorted(MODELS) if getattr(get_model_class(n), flag)]
    raise ColdStartError(COLD_SPLIT.format(name=klass.__name__, what=split.split("-")[1], models=", ".join(capable)))


def _mitigation(penalty, lam, reweigh, train):
    pen = rw = None
    if penalty is not None:
        from recfair.mitigation import make_penalty

        pen = make_penalty(penalty, lam)
    if reweigh is not None:
        from recfair.mitigation import make_reweigher

        rw = make_reweigher(reweigh).weights(train)
    return pen, rw


def train_cmd(
    model: str = typer.Argument(..., help="Registered model name (see `recfair models`)."),
    dataset: str = typer.Option("ml-100k", "--dataset", help="Data set name or path."),
    split: str = typer.Option("user-temporal", "--split", help="Split protocol: " + ", ".join(SPLIT_CHOICES)),
    test_size: float = typer.Option(0.2, "--test-size", help="Test fraction."),
    valid_size: float = typer.Option(0.0, "--valid-size", help="Validation fraction carved from train (early stopping)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the split and the model, in [0, 2**32)."),
    out: Path = typer.Option(..., "--out", help="Run folder to write."),
    force: bool = typer.Option(False, "--force", help="Replace an existing run folder."),
    param: list[str] = typer.Option([], "--param", help="Model hyper-parameter key=value (repeatable)."),
    candidates: int = typer.Option(100, "--candidates", help="Length of the stored candidate lists (≥ k)."),
    penalty: Optional[str] = typer.Option(None, "--penalty", help="In-processing penalty spec, e.g. group-gap:gender."),
    lam: Optional[float] = typer.Option(None, "--lambda", help="Penalty weight λ (required with --penalty)."),
    reweigh: Optional[str] = typer.Option(None, "--reweigh", help="Pre-processing re-weighting spec, e.g. inverse:gender."),
    k: int = typer.Option(10, "--k", help="Cut-off for the printed metrics."),
    sep: Optional[str] = C.SEP, user_col: Optional[str] = C.USER_COL, item_col: Optional[str] = C.ITEM_COL,
    rating_col: Optional[str] = C.RATING_COL, timestamp_col: Optional[str] = C.TIMESTAMP_COL,
    duplicates: Optional[str] = C.DUPLICATES, users_file: Optional[Path] = C.USERS_FILE,
    items_file: Optional[Path] = C.ITEMS_FILE, encoding: Optional[str] = C.ENCODING,
    rating_scale: Optional[str] = C.RATING_SCALE,
) -> None:
    """Train MODEL on a split of a data set and write a run folder (every option is checked first)."""
    from recfair.cli.train import parse_params
    from recfair.models.registry import get_model_class
    from recfair.runs import RUN_FILE, RunConfig, write_run
    from recfair.runs.artifacts import check_target
    from recfair.runs.checks import check_candidates, check_penalty_weight, check_seed
    from recfair.runs.pipeline import recommend_test, train_model

    if split not in SPLIT_CHOICES:
        raise RecfairError(BAD_SPLIT.format(split=split, choices=", ".join(SPLIT_CHOICES)))
    check_seed(seed)
    check_k(k, "train")
    check_candidates(candidates, k)
    lam_value = check_penalty_weight(penalty, lam)
    klass = get_model_class(model)  # unknown model: fail before loading any data
    params = parse_params(param, klass)
    check_cold_support(klass, split)
    check_target(out, force=force, marker=RUN_FILE)
    from recfair.data import load_dataset, make_split

    opts = C.data_options(sep, user_col, item_col, rating_col, timestamp_col, duplicates, users_file, items_file,
                          encoding, rating_scale)
    ds = load_dataset(dataset, **opts)
    sp = make_split(ds, split, test_size=test_size, valid_size=valid_size, seed=seed)
    pen, rw = _mitigation(penalty, lam_value, reweigh, sp.train)
    runtime = {"progress": False} if C.STATE["quiet"] else None
    mdl, secs = train_model(model, sp, params, seed=seed, sample_weight=rw, penalty=pen, runtime=runtime)
    recs, ev = recommend_test(mdl, sp, k, candidates=candidates)
    extra = {"penalty": penalty, "lambda": lam, "reweigh": reweigh, "fit_seconds": round(secs, 3)}
    cfg = RunConfig(model, mdl.get_params(), dataset, split, test_size, valid_size, seed, candidates, extra, opts)
    write_run(out, cfg, mdl, recs, dataset=ds, force=force)
    row = {"model": model, "fit s": secs, **{m: ev.overall[m] for m in C.headline(k) if m in ev.overall}}
    C.console().print(C.metrics_table([row], list(row), f"{model} on {ds.name} ({split}, seed {seed})"))
    C.info(f"run written to {out}")


def evaluate_cmd(
    run_dir: Path = typer.Argument(..., help="Run folder written by `recfair train`."),
    k: int = typer.Option(10, "--k", help="Cut-off."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Evaluate a run's stored recommendations on its test split (stored per k in metrics.json)."""
    from recfair.runs import Run
    from recfair.runs.pipeline import evaluate_run

    check_k(k, "evaluate")
    run = Run(run_dir)
    values = evaluate_run(run, k)
    run.save_metrics(k, values)
    if as_json:
        C.print_json({"run": str(run_dir), "model": run.config.model, "k": k, "metrics": values})
        return
    rows = [{"metric": name, "value": v} for name, v in values.items()]
    C.console().print(C.metrics_table(rows, ["metric", "value"], f"{run.config.model} — {run_dir}"))


def export_cmd(
    run_dir: Path = typer.Argument(..., help="Run folder written by `recfair train` or `recfair rerank --out`."),
    out: Path = typer.Option(..., "--out", help="File to write."),
    fmt: str = typer.Option("csv", "--format", help="csv | parquet."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Write a run's recommendation lists with raw user and item ids (CSV or Parquet)."""
    from recfair.runs import Run
    from recfair.runs.pipeline import EXPORT_FORMATS, export_recommendations

    if fmt not in EXPORT_FORMATS:
        raise RecfairError(f"--format must be one of: {', '.join(EXPORT_FORMATS)}. Got {fmt!r} instead.")
    if out.is_dir():
        raise RecfairError(f"--out {out} is a folder; name a file")
    if out.exists() and not force:
        raise RecfairError(f"{out} already exists; pass --force to replace it")
    path = export_recommendations(Run(run_dir), out, fmt)
    C.info(f"recommendations written to {path}")


def register(app: typer.Typer) -> None:
    """Add the run commands to ``app``."""
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("export")(export_cmd)
