"""`recfair serve DIR [--cell CELL_ID]`: parse the options and hand them to recfair.serve."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def serve_cmd(
    path: Path = typer.Argument(..., metavar="DIR", help="A study folder (with --cell) or a run folder."),
    cell: Optional[str] = typer.Option(None, "--cell", help="Study cell id to serve (see `recfair study status`)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (keep 127.0.0.1 behind a proxy)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="RECFAIR_API_KEY",
                                          help="Bearer token required on every route but /health."),
    candidates: int = typer.Option(100, "--candidates", min=1, max=10000,
                                   help="Candidates listed before a re-ranker picks k."),
    state_dir: Optional[Path] = typer.Option(None, "--state-dir",
                                             help="Folder of the amortized-exposure state (default DIR/serve-state)."),
    threads: int = typer.Option(1, "--threads", min=1, help="Torch threads for scoring."),
) -> None:
    """Serve a stored model over HTTP (FastAPI + uvicorn); see docs/serving.md."""
    import logging

    from recfair.models.config import RuntimeOptions
    from recfair.serve import ServeSettings
    from recfair.serve.server import run_server

    logging.getLogger("recfair").setLevel(logging.INFO)  # the start-up and warning lines
    settings = ServeSettings(api_key=api_key or None, n_candidates=candidates, state_dir=state_dir,
                             runtime=RuntimeOptions(threads=threads, progress=False))
    run_server(path, cell, host=host, port=port, settings=settings)


def register(app: typer.Typer) -> None:
    """Add `recfair serve` to the app."""
    app.command("serve")(serve_cmd)
