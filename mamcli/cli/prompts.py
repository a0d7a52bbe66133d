"""`mam prompts`: prompt files derived from ground truth (the paper's protocol)."""

from __future__ import annotations

from pathlib import Path

import typer

from mamcli.cli.common import fail
from mamcli.errors import MamError

app = typer.Typer(help="Make prompt files for `mam matte --boxes`.", no_args_is_help=True)


@app.command("from-alpha")
def _prompts_from_alpha(
    gt: Path = typer.Argument(..., help="Ground-truth alpha folder."),
    output: Path = typer.Option(..., "-o", "--output", help="Prompt file to write (JSON)."),
    point: bool = typer.Option(
        False, "--point", help="One positive point at the box centre instead of the box."
    ),
    instances: bool = typer.Option(
        False, "--instances", help="One folder per image, one alpha per instance (id = stem)."
    ),
    images: Path | None = typer.Option(
        None, "--images", help="Image folder: key prompts by the images' own paths (a.jpg)."
    ),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes."),
) -> None:
    """Write the prompts the paper derives from GT: the tight box of alpha > 127."""
    from mamcli.prompts.from_alpha import prompts_from_alpha, write_prompts

    try:
        result = prompts_from_alpha(
            gt, point=point, instances=instances, images=images, workers=workers, progress=True
        )
        write_prompts(result, output)
    except MamError as error:
        fail(error)
    for path in result.empty:
        typer.secho(f"mam: warning: {path}: no pixel with alpha > 127, no prompt", err=True)
    for line in result.errors:
        typer.secho(f"mam: error: {line}", fg="red", err=True)
    count = sum(len(items) for items in result.prompts.values())
    typer.echo(f"{output}: {count} prompts for {len(result.prompts)} images")
    raise typer.Exit(1 if result.errors else 0)
