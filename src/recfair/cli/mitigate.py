"""`recfair rerank` (post-processing mitigation of a run) and `recfair mitigations` (what exists).

In-processing and pre-processing go through ``recfair train MODEL --penalty SPEC --lambda λ``
and ``--reweigh SPEC`` (specs: :mod:`recfair.mitigation`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from recfair.errors import RecfairError

RERANK_FILE = "rerank.json"
NO_VALID = (
    "--relevance calibrated needs the run's validation part, but {path} was trained without one. "
    "Train with `recfair train MODEL --valid-size 0.1 ...`."
)
AUTO_QUANTILE = (
    "the run has no validation part, so UGF estimates relevance from score quantiles; these can "
    "rank user groups the wrong way round (see docs/mitigation.md). Train with --valid-size 0.1 for calibrated estimates."
)
K_TOO_LARGE = "--k {k} must be below the run's stored candidate list length ({n}) so there is something to re-rank."


def _options(method: str, epsilon, lam, p, alpha, target, groups, solver, relevance) -> dict:
    if method == "ugf":
        return {"epsilon": epsilon, "groups": groups, "solver": solver, "relevance": relevance}
    if method == "fair":
        return {"p": p, "alpha": alpha}
    if method == "prefix":
        return {"target": target}
    return {"lambda_": lam}


def check_groupings(raw: str, train) -> list[str]:
    """``--audit`` groupings, each resolved on the run's data now (an unknown one is an error, not skipped)."""
    from recfair.fairness.groups import parse_groups
    from recfair.runs.checks import split_names

    specs = split_names(raw)
    for spec in specs:
        try:
            parse_groups(spec, side="user")[0].assign(train, "user")
        except RecfairError as exc:
            raise RecfairError(f"--audit: grouping {spec!r} cannot be used: {exc}") from None
    return specs


def write_reranked(run, out: Path, after, key: str, options: dict, k: int, before_row: dict, after_row: dict,
                   report, *, force: bool) -> Path:
    """Write re-ranked lists as a run folder (no model) that `recfair evaluate` / `export` read."""
    from dataclasses import replace

    from recfair.runs import write_run

    shown = {name: v for name, v in options.items() if name != "calibration"}
    if "calibration" in options:
        shown["calibration"] = "valid"
    extra = {**run.config.extra, "rerank": {"method": key, **shown, "source": str(run.path)}}
    cfg = replace(run.config, n_candidates=k, extra=extra)
    summary = {"method": key, "options": shown, "k": k, "before": before_row, "after": after_row, "report": report}
    files = {RERANK_FILE: json.dumps(summary, indent=2, default=str)}
    return write_run(out, cfg, None, after, dataset=run.dataset, force=force, files=files)


def rerank_cmd(
    run_dir: Path = typer.Argument(..., help="Run folder written by `recfair train` (holds top-N candidates)."),
    method: str = typer.Option("ugf", "--method", help="ugf | fair (FA*IR) | prefix | calibrated."),
    epsilon: float = typer.Option(0.01, "--epsilon", help="ugf: largest allowed gap of estimated precision@k."),
    groups: str = typer.Option("activity", "--groups", help="ugf: binary user groups (activity = top 5% vs rest)."),
    solver: str = typer.Option("milp", "--solver", help="ugf: milp (exact) or greedy."),
    relevance: str = typer.Option(
        "auto", "--relevance",
        help="ugf: how each candidate's relevance is estimated: calibrated (hit rates on the run's "
             "validation part) | quantile | sigmoid | score; auto = calibrated when the run has a "
             "validation part, else quantile."),
    lam: float = typer.Option(0.5, "--lambda", help="calibrated: weight of the JS-divergence term."),
    p: float = typer.Option(0.5, "--p", help="fair: minimum share of long-tail items."),
    alpha: float = typer.Option(0.1, "--alpha", help="fair: significance of the FA*IR prefix test."),
    target: float = typer.Option(0.5, "--target", help="prefix: target share of long-tail items in every prefix."),
    k: int = typer.Option(10, "--k", help="Length of the re-ranked lists."),
    audit: str = typer.Option("gender,activity", "--audit", help="User groupings whose nDCG gap is printed."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the re-ranked lists (a run folder `recfair evaluate` reads)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out folder."),
) -> None:
    """Re-rank a run's stored candidates with a fairness re-ranker; print before/after."""
    from recfair.mitigation import make_reranker, resolve_mitigation_name
    from recfair.mitigation.sweep import assess
    from recfair.cli.common import info, warn
    from recfair.runs import RUN_FILE, Run
    from recfair.runs.artifacts import check_target

    from recfair.cli.common import console as _console
    from recfair.cli.common import metrics_table

    key = resolve_mitigation_name("reranker", method)  # an unknown name: one error listing the valid ones
    if k < 1:
        raise RecfairError(f"The 'k' parameter of rerank must be a positive int. Got {k} instead.")
    if out is not None:
        check_target(out, force=force, marker=RUN_FILE)
    run = Run(run_dir)
    if k >= run.config.n_candidates:
        raise RecfairError(K_TOO_LARGE.format(k=k, n=run.config.n_candidates))
    specs = check_groupings(audit, run.split.train)
    options = _options(key, epsilon, lam, p, alpha, target, groups, solver, relevance)
    split = run.split
    has_valid = split.valid is not None and split.valid.n_interactions > 0
    if key == "ugf":
        if relevance == "auto":
            relevance = options["relevance"] = "calibrated" if has_valid else "quantile"
            if not has_valid:
                warn(AUTO_QUANTILE)
        if relevance == "calibrated":
            if not has_valid:
                raise RecfairError(NO_VALID.format(path=run_dir))
            options["calibration"] = split.valid
    reranker = make_reranker(key, **options)
    candidates = run.recommendations()
    after = reranker.rerank(candidates, split.train, k)
    before_row, _ = assess(candidates.truncate(k), split.train, split.test, k=k, user_groups=specs)
    after_row, _ = assess(after, split.train, split.test, k=k, user_groups=specs)
    rows = []
    for name in before_row:
        if name.endswith(("_low", "_high")):
            continue
        b, a = before_row[name], after_row.get(name, float("nan"))
        rows.append({"metric": name, "before": b, "after": a, "change": a - b})
    report = getattr(reranker, "report_", None)
    if report:
        rows.append({"metric": f"ugf constrained gap ({report['groups'][0]} − {report['groups'][1]})",
                     "before": report["gap_before"], "after": report["gap_after"],
                     "change": report["gap_after"] - report["gap_before"]})
    title = f"{key} re-ranking of {run.config.model} ({run_dir}), top-{run.config.n_candidates} → {k}"
    _console().print(metrics_table(rows, ["metric", "before", "after", "change"], title))
    if out is not None:
        write_reranked(run, out, after, key, options, k, before_row, after_row, report, force=force)
        info(f"re-ranked lists written to {out}")


def mitigations_cmd() -> None:
    """List the mitigation specs for `recfair train --penalty/--reweigh` and `recfair rerank --method`."""
    from rich.table import Table

    from recfair.cli.common import console as _console

    table = Table(title="recfair mitigations")
    for col in ("stage", "spec", "what"):
        table.add_column(col)
    for spec, what in [
        ("value:G | absolute:G | under:G | over:G | nonparity:G", "Yao & Huang rating-unfairness penalty (rating models, binary G)"),
        ("group-gap:G", "penalise max − min mean per-user loss over groups of G"),
        ("popularity", "penalise |correlation| of scores with log item popularity"),
        ("adversarial:G", "gradient-reversal discriminator removes G from user embeddings"),
    ]:
        table.add_row("train --penalty", spec, what)
    for spec, what in [
        ("equal-share:G", "weights giving every group of G the same share of the loss"),
        ("inverse:G", "inverse group frequency (by users)"),
        ("upsample:G[=GROUP]", "duplicate interactions of the smaller groups (seeded)"),
    ]:
        table.add_row("train --reweigh", spec, what)
    for spec, what in [
        ("ugf", "max score s.t. |estimated-quality gap| ≤ ε (exact 0-1 program or greedy)"),
        ("fair", "FA*IR: minimum long-tail count in every prefix"),
        ("prefix", "deterministic prefix constraints for a long-tail share"),
        ("calibrated", "match the user's head/mid/tail profile (JS divergence, λ)"),
    ]:
        table.add_row("rerank --method", spec, what)
    _console().print(table)
    typer.echo("G is a user group spec: gender, age, occupation, activity (top 5%), activity[20], gender*age …")


def register(app: typer.Typer) -> None:
    """Add ``recfair rerank`` and ``recfair mitigations`` to ``app``."""
    app.command("rerank")(rerank_cmd)
    app.command("mitigations")(mitigations_cmd)
