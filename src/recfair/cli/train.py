"""`recfair models`, `recfair train`, `recfair evaluate`, `recfair demo`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer

from recfair.errors import RecfairError

SPLIT_CHOICES = ("random", "user-temporal", "global-temporal", "leave-last", "cold-users", "cold-items")

BAD_PARAM_SYNTAX = "--param expects key=value (e.g. --param epochs=20); got '{raw}'"
COLD_SPLIT = (
    "{name} cannot recommend on the cold-{what} split: it has no representation for {what} it was not trained on. "
    "Use one of: {models}."
)
BAD_SPLIT = "Unknown split '{split}'. Choose one of: {choices}."


def parse_params(raw: list[str]) -> dict[str, Any]:
    """``["epochs=20", "reg=0.01", "loss=bpr"]`` → typed dict (JSON literals, else strings)."""
    out: dict[str, Any] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise RecfairError(BAD_PARAM_SYNTAX.format(raw=item))
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _console():
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # logs and CI: wide enough that result tables don't wrap
        console = Console(width=160)
    return console


def metrics_table(rows: list[dict[str, Any]], columns: list[str], title: str):
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "metric") else "right")
    for row in rows:
        cells = []
        for col in columns:
            v = row.get(col, "")
            cells.append(f"{v:.4f}" if isinstance(v, float) else str(v))
        table.add_row(*cells)
    return table


def train_one(
    model_name: str,
    split,
    params: dict[str, Any],
    *,
    seed: int,
    sample_weight=None,
    penalty=None,
):
    """Create, fit and return (model, fit_seconds). ``seed`` is passed when the model takes one."""
    from recfair.models.registry import create_model, get_model_class

    klass = get_model_class(model_name)
    if "seed" in klass._param_names() and "seed" not in params:
        params = {**params, "seed": seed}
    model = create_model(model_name, **params)
    t0 = time.perf_counter()
    model.fit(split.train, split.valid, sample_weight=sample_weight, penalty=penalty)
    return model, time.perf_counter() - t0


def evaluate_split(model, split, k: int, *, candidates: int | None = None):
    """Recommend for every test user and evaluate on the test part."""
    import numpy as np

    from recfair.metrics import evaluate

    users = np.flatnonzero(split.test.user_counts > 0)
    if split.history is not None and split.history.n_interactions:
        model.observe(split.history)
    cand = None
    if split.protocol == "cold-items":
        cand = np.flatnonzero((split.test.item_counts > 0) & (split.train.item_counts == 0))
    recs = model.recommend(users, k=max(k, candidates or k), candidates=cand)
    return recs, evaluate(recs.truncate(k), split.test, train=split.train, k=k)


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_cmd() -> None:
        """List the registered models."""
        from recfair.models.registry import MODELS, get_model_class

        from rich.table import Table

        table = Table(title="recfair models")
        table.add_column("name")
        table.add_column("class")
        table.add_column("cold users")
        table.add_column("cold items")
        for name in sorted(MODELS):
            try:
                k = get_model_class(name)
                table.add_row(name, k.__name__, "yes" if k.supports_cold_users else "no", "yes" if k.supports_cold_items else "no")
            except ImportError as exc:  # optional extra missing
                table.add_row(name, f"(unavailable: {exc})", "", "")
        _console().print(table)

    @app.command("train")
    def train_cmd(
        model: str = typer.Argument(..., help="Registered model name (see `recfair models`)."),
        dataset: str = typer.Option("ml-100k", "--dataset", help="Data set name or path."),
        split: str = typer.Option("user-temporal", "--split", help="Split protocol: " + ", ".join(SPLIT_CHOICES)),
        test_size: float = typer.Option(0.2, "--test-size", help="Test fraction."),
        valid_size: float = typer.Option(0.0, "--valid-size", help="Validation fraction carved from train (early stopping)."),
        seed: int = typer.Option(0, "--seed", help="Seed for the split and the model."),
        out: Path = typer.Option(..., "--out", help="Run folder to write."),
        param: list[str] = typer.Option([], "--param", help="Model hyper-parameter key=value (repeatable)."),
        candidates: int = typer.Option(100, "--candidates", help="Length of the stored candidate lists (for re-ranking)."),
        penalty: Optional[str] = typer.Option(None, "--penalty", help="In-processing penalty spec, e.g. group-gap:gender."),
        lam: float = typer.Option(0.0, "--lambda", help="Penalty weight λ."),
        reweigh: Optional[str] = typer.Option(None, "--reweigh", help="Pre-processing re-weighting spec, e.g. inverse:gender."),
        k: int = typer.Option(10, "--k", help="Cut-off for the printed metrics."),
    ) -> None:
        """Train MODEL on a split of a data set and write a run folder."""
        from recfair.models.registry import get_model_class
        from recfair.runs import RunConfig, write_run

        if split not in SPLIT_CHOICES:
            raise RecfairError(BAD_SPLIT.format(split=split, choices=", ".join(SPLIT_CHOICES)))
        params = parse_params(param)
        klass = get_model_class(model)  # unknown model: fail before loading any data
        _check_cold_support(klass, split)
        from recfair.data import load_dataset, make_split

        ds = load_dataset(dataset)
        sp = make_split(ds, split, test_size=test_size, valid_size=valid_size, seed=seed)
        pen = rw = None
        if penalty is not None:
            from recfair.mitigation import make_penalty

            pen = make_penalty(penalty, weight=lam)
        if reweigh is not None:
            from recfair.mitigation import make_reweigher

            rw = make_reweigher(reweigh).weights(sp.train)
        mdl, secs = train_one(model, sp, params, seed=seed, sample_weight=rw, penalty=pen)
        recs, ev = evaluate_split(mdl, sp, k, candidates=candidates)
        extra = {"penalty": penalty, "lambda": lam, "reweigh": reweigh, "fit_seconds": round(secs, 3)}
        cfg = RunConfig(model, mdl.get_params(), dataset, split, test_size, valid_size, seed, candidates, extra)
        write_run(out, cfg, mdl, recs)
        row = {"model": model, "fit s": secs, **{m: ev.overall[m] for m in _headline(k) if m in ev.overall}}
        _console().print(metrics_table([row], list(row), f"{model} on {ds.name} ({split}, seed {seed})"))
        typer.echo(f"run written to {out}")

    @app.command("evaluate")
    def evaluate_cmd(
        run_dir: Path = typer.Argument(..., help="Run folder written by `recfair train`."),
        k: int = typer.Option(10, "--k", help="Cut-off."),
    ) -> None:
        """Evaluate a run's stored recommendations on its test split."""
        from recfair.runs import METRICS_FILE, Run

        if k < 1:
            raise RecfairError(f"The 'k' parameter of evaluate must be a positive int. Got {k} instead.")
        run = Run(run_dir)
        from recfair.metrics import evaluate

        if k > run.config.n_candidates:
            raise RecfairError(f"--k {k} exceeds the stored list length {run.config.n_candidates}")
        recs = run.recommendations(k)
        ev = evaluate(recs, run.split.test, train=run.split.train, k=k)
        rows = [{"metric": name, "value": float(v)} for name, v in ev.overall.items()]
        rows += [{"metric": "coverage", "value": float(ev.overall[f"coverage@{k}"])}, {"metric": "gini", "value": float(ev.overall[f"gini@{k}"])}]
        _console().print(metrics_table(rows, ["metric", "value"], f"{run.config.model} — {run_dir}"))
        tmp = run.path / (METRICS_FILE + ".tmp")
        tmp.write_text(json.dumps({name: float(v) for name, v in ev.overall.items()}, indent=2))
        tmp.replace(run.path / METRICS_FILE)


def _check_cold_support(klass, split: str) -> None:
    """Refuse a cold-start split up front (before any training) for models that cannot serve it."""
    from recfair.errors import ColdStartError
    from recfair.models.registry import MODELS, get_model_class

    flag = {"cold-users": "supports_cold_users", "cold-items": "supports_cold_items"}.get(split)
    if flag is None or getattr(klass, flag):
        return
    # The capable models come from the registry's own flags, so this list can't drift.
    capable = [n for n in sorted(MODELS) if getattr(get_model_class(n), flag)]
    raise ColdStartError(COLD_SPLIT.format(name=klass.__name__, what=split.split("-")[1], models=", ".join(capable)))


def _headline(k: int) -> list[str]:
    return [f"ndcg@{k}", f"recall@{k}", f"coverage@{k}", f"gini@{k}", f"aplt@{k}"]
