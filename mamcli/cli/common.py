"""What every verb of the CLI shares: one error line, comma lists."""

from __future__ import annotations

import typer

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
