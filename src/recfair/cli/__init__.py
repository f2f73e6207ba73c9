"""Command-line interface (``recfair``).

Only this package reads the command line.  Each command group lives in its own
module with a ``register(app)`` function; heavy imports stay inside command
bodies so ``recfair --help`` is instant.  Any :class:`~recfair.errors.RecfairError`
becomes a one-line message on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import logging
import sys

import typer

from recfair.errors import RecfairError

app = typer.Typer(
    name="recfair",
    help="Measure and improve the fairness of (large-model) recommenders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

COMMAND_MODULES = ("data", "train", "runs", "demo", "audit", "lm", "probe", "mitigate", "study", "serve", "simulate")


def _register_all() -> None:
    import importlib

    for name in COMMAND_MODULES:  # a fixed tuple of the package's own modules, never a name from a file
        importlib.import_module(f"recfair.cli.{name}").register(app)


def _version(value: bool) -> None:
    if value:
        from recfair import __version__

        typer.echo(f"recfair {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the recfair version and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only results asked for (--json) and errors; "
                                                              "no progress bars, tables or notes."),
) -> None:
    """Measure and improve the fairness of (large-model) recommenders."""
    from recfair.cli.common import STATE

    STATE["quiet"] = quiet


_register_all()


def fail(message: str) -> "typer.Exit":
    """Print a one-line error and return the exit to raise (code 2)."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code=2)


def _click_exceptions():
    # typer >= 0.20 vendors click as typer._click; older releases use click itself.
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - depends on the typer version
        from click import exceptions
    return exceptions


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cexc = _click_exceptions()
    try:
        rv = app(args=argv, standalone_mode=False)
    except cexc.UsageError as exc:
        typer.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(2)
    except cexc.ClickException as exc:
        typer.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, getattr(cexc, "Abort", KeyboardInterrupt)):
        typer.echo("Aborted.", err=True)
        sys.exit(130)
    except RecfairError as exc:
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    if isinstance(rv, int) and rv != 0:
        sys.exit(rv)
