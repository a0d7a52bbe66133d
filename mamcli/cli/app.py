"""The root `mam` command: the verbs, `--version`, and the one place errors are caught.

A verb's module is imported only when that verb runs (or help lists the verbs), so
`mam matte` never pays for `mam eval`'s imports before it can answer a usage error.
"""

from __future__ import annotations

import importlib

import click
import typer
from typer.core import TyperGroup

from mamcli.cli.common import MamCommand, fail, plain_labels
from mamcli.errors import INTERRUPTED, MamError
from mamcli.runtime.exit import exit_without_teardown

# Verb -> its module under mamcli.cli, in the order help lists them. A module defines
# either `command` (a single-command verb) or `app` (a Typer group of sub-verbs).
VERBS = {
    "matte": "matte",
    "eval": "eval",
    "train": "train",
    "weights": "weights",
    "prompts": "prompts",
}


def load_verb(name: str) -> click.Command:
    """The click command of one verb, importing its module now."""
    module = importlib.import_module(f"mamcli.cli.{VERBS[name]}")
    group = getattr(module, "app", None)
    if group is not None:
        command = typer.main.get_group(group)
    else:
        verb = typer.Typer(add_completion=False)
        verb.command(name, cls=MamCommand)(module.command)
        command = typer.main.get_command(verb)
    command.name = name
    return command


class MamGroup(TyperGroup):
    """Loads verbs on demand; a `MamError` from anywhere below becomes one line and its
    exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in VERBS:
            self.add_command(load_verb(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

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
        from mamcli import __version__

        typer.echo(f"mam {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Cut out people, animals and objects with soft alpha mattes, in batch."""


def main() -> None:
    """Console-script entry point: runs the CLI, then ends the process without the
    interpreter's teardown (mamcli/runtime/exit.py)."""
    try:
        app()
    except SystemExit as done:
        exit_without_teardown(done.code)
    exit_without_teardown(0)
