"""`mam prompts`: prompt files derived from ground truth (the paper's protocol)."""

from __future__ import annotations

from pathlib import Path

import typer

from mamcli.prompts.from_alpha import BOX_THRESHOLD

app = typer.Typer(help="Make prompt files for `mam matte --boxes`.", no_args_is_help=True)

INPUTS = "Inputs"
PROMPTS = "Prompts"
OUTPUT = "Output and speed"


@app.command("from-alpha")
def _prompts_from_alpha(
    gt: Path = typer.Argument(..., help="Ground-truth alpha folder."),
    output: Path = typer.Option(
        ..., "-o", "--output", help="Prompt file to write (JSON).", rich_help_panel=OUTPUT
    ),
    point: bool = typer.Option(
        False,
        "--point",
        help="One positive point at the box centre instead of the box.",
        rich_help_panel=PROMPTS,
    ),
    instances: bool = typer.Option(
        False,
        "--instances",
        help="One folder per image, one alpha per instance (id = stem).",
        rich_help_panel=INPUTS,
    ),
    images: Path | None = typer.Option(
        None,
        "--images",
        help="Image folder: key prompts by the images' own paths (a.jpg).",
        rich_help_panel=INPUTS,
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Worker processes.", rich_help_panel=OUTPUT
    ),
) -> None:
    from mamcli.prompts.from_alpha import prompts_from_alpha, write_prompts

    result = prompts_from_alpha(
        gt, point=point, instances=instances, images=images, workers=workers, progress=True
    )
    write_prompts(result, output)
    for path in result.empty:
        typer.secho(
            f"mam: warning: {path}: no pixel with alpha > {BOX_THRESHOLD}, no prompt", err=True
        )
    for line in result.errors:
        typer.secho(f"mam: error: {line}", fg="red", err=True)
    count = sum(len(items) for items in result.prompts.values())
    typer.echo(f"{output}: {count} prompts for {len(result.prompts)} images")
    raise typer.Exit(1 if result.errors else 0)


_prompts_from_alpha.__doc__ = f"""Write the prompts the paper derives from GT: the tight box of \
alpha > {BOX_THRESHOLD}, or (--point) one positive point at its centre.

Prompt kinds: box (default) or point. Keys are the GT paths relative to GT, or with \
--images the images' own relative paths, so `mam matte --boxes` finds them.

Examples:

  mam prompts from-alpha data/alpha -o boxes.json --images data/images

  mam prompts from-alpha data/alpha -o points.json --point

  mam prompts from-alpha data/instances -o boxes.json --instances

Exit codes: 0 all GT files read; 1 some GT file could not be read; 2 a usage error.
"""
