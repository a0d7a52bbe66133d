"""The root `mam` command: the verbs, `--version`, and the one place errors are caught."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from mamcli import __version__
from mamcli.cli import eval as eval_cli
from mamcli.cli import matte, prompts, train, weights
from mamcli.cli.common import MamCommand, fail, plain_labels
from mamcli.errors import INTERRUPTED, MamError


class MamGroup(TyperGroup):
    """Runs a verb; a `MamError` from anywhere below becomes one line and its exit code."""

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except MamError as error:
            fail(error)
        except KeyboardInterrupt as interrupt:  # a verb may say how far it got
            typer.echo(f"mam: {interrupt}" if str(interrupt) else "mam: interrupted", err=True)
            raise typer.Exit(INTERRUPTED) from None

    def get_params(self, ctx):  # type: ignore[no-untyped-def]
        return plain_labels(super().get_params(ctx))


app = typer.Typer(
    name="mam",
    cls=MamGroup,
    help="Batch image matting with Matting Anything (SAM + Mask-to-Matte).",
    no_args_is_help=True,
    add_completion=True,
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


app.command("matte", cls=MamCommand)(matte.command)
app.command("eval")(eval_cli.command)
app.command("train")(train.command)
app.add_typer(weights.app, name="weights")
app.add_typer(prompts.app, name="prompts")


def main() -> None:
    """Console-script entry point."""
    app()
