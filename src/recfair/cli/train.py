"""`recfair models` and ``--param`` parsing (train / evaluate / export live in :mod:`recfair.cli.runs`)."""

from __future__ import annotations

from typing import Any, Optional

import typer

from recfair.models.config import BAD_ASSIGNMENT as BAD_PARAM_SYNTAX
from recfair.models.config import parse_params as parse_config_params


def parse_params(raw: list[str], model_class: Any) -> dict[str, Any]:
    """``["epochs=20", "reg=0.01"]`` → values typed and validated by ``model_class.Config``."""
    return parse_config_params(model_class.Config, raw, owner=f"model '{model_class.name}'")


def _params_table(klass: Any, name: str, kind: str = "model") -> Any:
    """A rich table of ``klass.Config``: name, allowed values, default, description."""
    from rich.table import Table

    from recfair.models.config import describe_config

    how = "set with --param key=value" if kind == "model" else f"{kind} parameters"
    table = Table(title=f"{name} ({klass.__name__}) parameters — {how}")
    for col in ("parameter", "allowed", "default", "description"):
        table.add_column(col, overflow="fold")
    for row in describe_config(klass.Config):
        table.add_row(row["name"], row["allowed"], row["default"], row["description"])
    return table


def _console():
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # logs and CI: wide enough that result tables don't wrap
        console = Console(width=160)
    return console


def register(app: typer.Typer) -> None:
    """Add the ``recfair models`` command (list components, ``--params NAME`` for their settings) to ``app``."""

    @app.command("models")
    def models_cmd(
        params: Optional[str] = typer.Option(
            None, "--params", metavar="NAME",
            help="Print the typed hyper-parameters of NAME: a model, a mitigation (fair, group-gap, "
                 "equal-share …; penalty:popularity) or a generative backend (hf, openai).",
        ),
    ) -> None:
        """List the registered models, or (--params NAME) one component's hyper-parameters."""
        from rich.table import Table

        from recfair.mitigation.registry import find_component
        from recfair.models.registry import MODELS, get_model_class

        if params is not None:
            kind, klass = find_component(params)
            _console().print(_params_table(klass, params, kind))
            return

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
