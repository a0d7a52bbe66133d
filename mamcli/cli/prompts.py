"""`mam prompts`: prompt files derived from ground truth (the paper's protocol). The flags
of `from-alpha` are generated from `FromAlphaConfig` (one home per option)."""

from __future__ import annotations

from typing import Any

import typer

from mamcli.cli.common import MamCommand
from mamcli.cli.options import build_config, config_argument, config_params, ordered, with_params
from mamcli.prompts.config import FromAlphaConfig
from mamcli.prompts.from_alpha import BOX_THRESHOLD

app = typer.Typer(help="Make prompt files for `mam matte --boxes`.", no_args_is_help=True)

FROM_ALPHA_PARAMS = config_params(FromAlphaConfig)


def _from_alpha(gt: Any, **values: Any) -> None:
    from mamcli.prompts.from_alpha import prompts_from_alpha, write_prompts

    config = build_config(FromAlphaConfig, FROM_ALPHA_PARAMS, values, gt=gt, progress=True)
    result = prompts_from_alpha(config)
    write_prompts(result, config.output)
    for path in result.empty:
        typer.secho(
            f"mam: warning: {path}: no pixel with alpha > {BOX_THRESHOLD}, no prompt", err=True
        )
    for line in result.errors:
        typer.secho(f"mam: error: {line}", fg="red", err=True)
    count = sum(len(items) for items in result.prompts.values())
    typer.echo(f"{config.output}: {count} prompts for {len(result.prompts)} images")
    raise typer.Exit(1 if result.errors else 0)


_from_alpha.__doc__ = f"""Write the prompts the paper derives from GT: the tight box of \
alpha > {BOX_THRESHOLD}, or (--point) one positive point at its centre.

Prompt kinds: box (default) or point. Keys are the GT paths relative to GT, or with \
--images the images' own relative paths, so `mam matte --boxes` finds them.

Examples:

  mam prompts from-alpha data/alpha -o boxes.json --images data/images

  mam prompts from-alpha data/alpha -o points.json --point

  mam prompts from-alpha data/instances -o boxes.json --instances

Exit codes: 0 all GT files read; 1 some GT file could not be read; 2 a usage error.
"""
app.command("from-alpha", cls=MamCommand)(
    with_params(_from_alpha, ordered(FROM_ALPHA_PARAMS), [config_argument(FromAlphaConfig, "gt")])
)
