"""The `mam` command line: parses options and calls library functions.

Every command is a thin wrapper: the work is done by functions a Python user can call
the same way (see the README's "Python API").
"""

from __future__ import annotations

import typer

from mamcli import __version__
from mamcli.errors import MamError

app = typer.Typer(
    name="mam",
    help="Batch image matting with Matting Anything (SAM + Mask-to-Matte).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mam {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Cut out people, animals and objects with soft alpha mattes, in batch."""


def fail(error: MamError | str, code: int = 2) -> None:
    """Print one clear error line and exit with `code`."""
    typer.secho(f"mam: error: {error}", fg="red", err=True)
    raise typer.Exit(code)


def main() -> None:
    """Console-script entry point."""
    app()
