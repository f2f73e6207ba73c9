"""`recfair simulate CONFIG`: parse, call recfair.simulation, print the drift table."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def simulate_cmd(
    file: Path = typer.Argument(..., help="Study config (TOML) with a \\[simulation] section."),
    out: Optional[Path] = typer.Option(None, "--out", help="Study folder (default: the config's `out`)."),
    threads: int = typer.Option(1, "--threads", help="Torch threads of the models."),
) -> None:
    """Run the study's feedback-loop simulations (resumes after an interruption); print the drift table."""
    from recfair.cli.common import console, info, metrics_table
    from recfair.models.config import RuntimeOptions
    from recfair.simulation.study import headline_table, load_simulation_study, simulate_study, stored_trajectories
    from recfair.study.config import StudyConfigError

    try:
        loaded = load_simulation_study(file)
    except StudyConfigError as exc:
        for line in exc.problems:
            typer.echo(f"Error: {line}", err=True)
        raise typer.Exit(code=2) from None

    def on_run(i: int, n: int, run) -> None:
        info(f"[{i + 1}/{n}] {run.name()} seed {run.seed}")

    result = simulate_study(loaded, out, on_run=on_run, runtime=RuntimeOptions(threads=threads, progress=False))
    table = headline_table(stored_trajectories(result.root))
    if len(table):
        rows = table.round(4).to_dict("records")
        console().print(metrics_table(rows, list(table.columns), "drift: first round → last round (CI across seeds)"))
    info(f"{result.planned} trajectories: {result.ran} run, {result.skipped} already stored; store {result.root}")


def register(app: typer.Typer) -> None:
    """Add ``recfair simulate`` to ``app``."""
    app.command("simulate")(simulate_cmd)
