"""What every verb of the CLI shares: one error line, comma lists, help without type
labels."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperOption

from mamcli.errors import MamError


def fail(error: MamError | str, code: int | None = None) -> None:
    """Print one clear error line and exit with `code` (default: the error's own code)."""
    if code is None:
        code = error.exit_code if isinstance(error, MamError) else 2
    typer.secho(f"mam: error: {error}", fg="red", err=True)
    raise typer.Exit(code)


def csv_list(value: str) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c']."""
    return [part.strip() for part in value.split(",") if part.strip()]


def plain_labels(params: list[Any]) -> list[Any]:
    """`params` with no type labels in help (`<bool>` for flags, `<list[Path]>` for an
    argument that has a metavar): the flag or metavar says what to type."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag:
            param.metavar = ""
        elif isinstance(param, TyperArgument) and param.metavar:
            param.display_type_rich = _no_label  # type: ignore[method-assign]
    return params


def _no_label(ctx: Any) -> str:
    return ""


class MamCommand(TyperCommand):
    """A verb whose help shows no type labels (see `plain_labels`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return plain_labels(super().get_params(ctx))
