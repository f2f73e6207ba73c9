"""`recfair study init|run|status`, `recfair report` and `recfair compare`: parse, call recfair.study, print.

A study config with problems exits 2 with one ``Error:`` line per problem,
before the store is opened (so an existing store never changes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

EXISTS = "{path} exists; choose another file or delete it first."

study_app = typer.Typer(name="study", help="Run a study (one TOML config → a DuckDB store) and look at it.",
                        no_args_is_help=True)


def _fail_config(exc) -> typer.Exit:
    """Print one line per config problem; return the exit (code 2)."""
    for line in exc.problems:
        typer.echo(f"Error: {line}", err=True)
    return typer.Exit(code=2)


def _table(frame, title: str):
    from recfair.cli.common import metrics_table

    rows = frame.to_dict("records")
    return metrics_table(rows, list(frame.columns), title)


@study_app.command("init")
def init_cmd(
    file: Path = typer.Argument(..., help="Where to write the commented TOML config."),
    preset: str = typer.Option("default", "--preset", help="default (ML-100K, 7 models, 3 seeds) | quick (synthetic)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented study config from a shipped preset."""
    from recfair.cli.common import info
    from recfair.errors import RecfairError
    from recfair.study.config import preset_text

    text = preset_text(preset)
    if file.exists() and not force:
        raise RecfairError(EXISTS.format(path=file))
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text, encoding="utf-8")
    info(f"wrote {file} (preset {preset}); run it with: recfair study run {file}")


@study_app.command("run")
def run_cmd(
    file: Path = typer.Argument(..., help="Study config (TOML); `recfair study init FILE` writes one."),
    out: Optional[Path] = typer.Option(None, "--out", help="Study folder (default: the config's `out`)."),
    workers: int = typer.Option(1, "--workers", help="Cells run at once (process pool when > 1)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch threads per cell (default 1; numbers do not depend on --workers)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address",
                                              help="Run cells on Ray: 'auto' joins a cluster, 'local' starts one."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run cells stored as failed again."),
) -> None:
    """Run every cell the study's store lacks (resumes after an interruption), then print a summary."""
    from recfair.cli.common import console, info
    from recfair.study.config import StudyConfigError, load_study_config
    from recfair.study.queries import cell_times, study_summary
    from recfair.study.runner import run_study

    try:
        config = load_study_config(file)
    except StudyConfigError as exc:
        raise _fail_config(exc) from None
    result = run_study(config, out, workers=workers, threads=threads, ray_address=ray_address,
                       retry_failed=retry_failed, base_dir=file.resolve().parent)
    c = console()
    summary = study_summary(result.root)
    if len(summary):
        c.print(_table(summary, f"{config.name}: means over seeds (k={config.k})"))
        c.print(_table(cell_times(result.root), "seconds per cell type (means)"))
    info(f"{result.planned} cells: {result.ran} run, {result.skipped} already stored, {result.failed} failed; "
         f"{result.seconds:.0f} s")
    info(f"store: {result.store_path}")


@study_app.command("status")
def status_cmd(directory: Path = typer.Argument(..., help="Study folder (holds study.duckdb).")) -> None:
    """One line per cell: id, model, mitigation, seed, status (done / failed / pending)."""
    from recfair.study.queries import study_status

    for r in study_status(directory).itertuples():
        error = f"  {r.error}" if isinstance(r.error, str) and r.error else ""
        typer.echo(f"{r.cell_id}  {r.model}  {r.mitigation}  seed={r.seed}  {r.status}{error}")


def report_cmd(
    directory: Path = typer.Argument(..., help="Study folder (holds study.duckdb)."),
    output: Path = typer.Option(Path("report.html"), "-o", "--output", help="The HTML file to write."),
) -> None:
    """Write the study's self-contained HTML report (reads the store only)."""
    from recfair.report import render_report

    path = render_report(directory, output)
    typer.echo(f"report: {path} ({path.stat().st_size / 1024:.0f} KiB)")


def compare_cmd(
    directory: Path = typer.Argument(..., help="Study folder (holds study.duckdb)."),
    cell_a: str = typer.Argument(..., help="Baseline cell id (`recfair study status DIR`)."),
    cell_b: str = typer.Argument(..., help="Compared cell id."),
    groups: Optional[str] = typer.Option(None, "--groups", "--by", help="Stored user groupings, e.g. gender,activity."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Show one metric only (e.g. ndcg@10)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap and permutation draws."),
) -> None:
    """Who gains, who loses: per-user differences B − A by group, from the store (no re-run)."""
    from recfair.cli.common import console
    from recfair.runs.checks import split_names
    from recfair.study.queries import compare_cells

    res = compare_cells(directory, cell_a, cell_b, split_names(groups) if groups else None, seed=seed)
    rows = res.groups if metric is None else res.groups[res.groups["metric"] == metric]
    console().print(_table(rows.round(4), f"{cell_b} vs {cell_a}: mean Δ per group, share worse off, paired tests"))
    gaps = res.gaps if metric is None else res.gaps[res.gaps["metric"] == metric]
    if len(gaps):
        console().print(_table(gaps.round(4), "gap change (B − A) between the groups A favoured and disfavoured"))


def register(app: typer.Typer) -> None:
    """Add ``recfair study …``, ``recfair report`` and ``recfair compare`` to ``app``."""
    app.add_typer(study_app, name="study")
    app.command("report")(report_cmd)
    app.command("compare")(compare_cmd)
