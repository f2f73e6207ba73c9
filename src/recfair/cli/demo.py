"""`recfair demo`: the main job — train, evaluate and audit every model on ML-100K."""

from __future__ import annotations

import logging
import time

import typer

from recfair.cli.common import console as _console
from recfair.cli.common import headline as _headline
from recfair.cli.common import metrics_table
from recfair.runs.pipeline import recommend_test as evaluate_split
from recfair.runs.pipeline import train_model as train_one

log = logging.getLogger(__name__)

#: Classic models first, then the large-model ones (skipped with a note when their extra is missing).
DEMO_MODELS = ("random", "popularity", "itemknn", "mf", "bpr", "lm-frozen", "lm-hybrid", "generative")


def _gap_cells(gaps, attribute: str, label: str, metric: str) -> dict[str, str]:
    row = gaps[(gaps["attribute"] == attribute) & (gaps["metric"] == metric)]
    if row.empty:
        return {label: "n/a", f"{label} p": "n/a"}
    r = row.iloc[0]
    return {
        label: f"{r['gap']:.3f} [{r['gap_ci_low']:.3f}, {r['gap_ci_high']:.3f}] {r['max_group']}>{r['min_group']}",
        f"{label} p": f"{r['p_value']:.4f}",
    }


def register(app: typer.Typer) -> None:
    """Add the ``recfair demo`` command (train, evaluate and audit the demo models) to ``app``."""

    @app.command("demo")
    def demo_cmd(
        dataset: str = typer.Option("ml-100k", "--dataset", help="Data set name or path."),
        seed: int = typer.Option(0, "--seed", help="Seed for the split, the models and the audit."),
        models: str = typer.Option(",".join(DEMO_MODELS), "--models", help="Comma-separated model names."),
        k: int = typer.Option(10, "--k", help="List length evaluated."),
        n_bootstrap: int = typer.Option(1000, "--n-bootstrap", help="Bootstrap resamples for the CIs."),
    ) -> None:
        """The main job: train, evaluate and audit every model on the reference protocol."""
        from recfair.data import load_dataset, make_split
        from recfair.fairness import audit
        from recfair.models.registry import get_model_class

        console = _console()
        ds = load_dataset(dataset)
        sp = make_split(ds, "user-temporal", test_size=0.2, seed=seed)
        console.print(
            f"[bold]{ds.name}[/]: {ds.n_users} users, {ds.n_items} items, {ds.n_interactions} interactions; "
            f"split user-temporal 0.2 (seed {seed}) → train {sp.train.n_interactions}, test {sp.test.n_interactions}"
        )
        acc_rows, fair_rows = [], []
        metric = f"ndcg@{k}"
        t_start = time.perf_counter()
        for name in [m.strip() for m in models.split(",") if m.strip()]:
            try:
                get_model_class(name)
            except ImportError as exc:
                console.print(f"[yellow]skipping {name}: {exc}[/]")
                continue
            console.print(f"training [bold]{name}[/] …")
            mdl, secs = train_one(name, sp, {}, seed=seed)
            recs, ev = evaluate_split(mdl, sp, k)
            acc_rows.append({"model": name, "fit s": secs, **{m: ev.overall[m] for m in _headline(k) if m in ev.overall}})
            au = audit(recs, sp, groups="gender,age,activity", metrics=[metric], k=k,
                       n_bootstrap=n_bootstrap, seed=seed, per_user=ev.per_user)
            gaps = au.user_gaps
            fair_rows.append({
                "model": name,
                **_gap_cells(gaps, "gender", "gender", metric),
                **_gap_cells(gaps, "age", "age", metric),
                **_gap_cells(gaps, "activity", "UGF", metric),
            })
        if not acc_rows:
            raise typer.Exit(code=1)
        console.print(metrics_table(acc_rows, list(acc_rows[0]),
                                    f"Accuracy and exposure on {ds.name} (user-temporal 0.2, full ranking, k={k}, seed {seed})"))
        console.print(metrics_table(fair_rows, list(fair_rows[0]),
                                    f"Who gains, who loses: gaps in {metric} between user groups (max − min group mean [{n_bootstrap}-resample 95% CI], "
                                    "permutation-test p; UGF = top-5% most active vs the rest)"))
        console.print(f"done in {time.perf_counter() - t_start:.0f} s. Next: `recfair train bpr --out runs/bpr` then "
                      "`recfair audit runs/bpr --groups gender,age,activity` for the full audit tables.")
