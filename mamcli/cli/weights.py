"""`mam weights`: list, download and locate checkpoints (mamcli/hub/).

Only `download` imports torch (to check an unverified file loads): `list` and `path`
stay fast. The flags of `download` are generated from `DownloadConfig` (one home per
option).
"""

from __future__ import annotations

import json
from typing import Any

import typer

from mamcli.cli.common import MamCommand, fail
from mamcli.cli.options import build_config, config_argument, config_params, with_params
from mamcli.errors import MamError
from mamcli.hub.config import DownloadConfig

app = typer.Typer(
    help="List, download and locate model checkpoints.",
    no_args_is_help=True,
)


def _examples(*lines: str) -> str:
    """An epilog listing example command lines, one per line."""
    return "[bold]Examples[/bold]\n\n" + "\n\n".join(f"  $ {line}" for line in lines)


@app.command(
    "list",
    epilog=_examples(
        "mam weights list",
        "mam weights list --json",
        "mam weights list --json | jq -r '.[] | select(.cached) | .path'",
    ),
)
def _weights_list(
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print a JSON list (name, kind, model, size, sha256, cached, path, url).",
    ),
) -> None:
    """Show the known checkpoints, their hashes and whether they are cached."""
    from mamcli.hub.weights import REGISTRY, cache_dir, cached_path, sources

    if as_json:
        rows = [
            {
                "name": spec.name,
                "kind": spec.kind,
                "model": spec.model,
                "size": spec.size,
                "sha256": spec.sha256,
                "cached": cached_path(spec).is_file(),
                "path": str(cached_path(spec)),
                "url": sources(spec)[0],
            }
            for spec in REGISTRY.values()
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "kind", "model", "size", "sha256", "cached")
    for spec in REGISTRY.values():
        table.add_row(
            spec.name,
            spec.kind,
            spec.model,
            f"{spec.size / 1e6:.0f} MB" if spec.size else "?",
            spec.sha256[:8] if spec.sha256 else "unverified",
            "yes" if cached_path(spec).is_file() else "no",
        )
    console = Console()
    console.print(table)
    console.print(f"cache: {cache_dir() / 'checkpoints'} (set MAM_HOME to move it)", soft_wrap=True)


DOWNLOAD_PARAMS = config_params(DownloadConfig)


def _weights_download(checkpoint: str, **values: Any) -> None:
    """Download a checkpoint into the cache (verifying its hash) and print its path.

    Draws a progress bar on a terminal only; with no network it fails at once (exit 4).
    """
    from mamcli.hub.weights import download

    config = build_config(DownloadConfig, DOWNLOAD_PARAMS, values, checkpoint=checkpoint)
    try:
        path = download(config)
    except MamError as error:
        fail(error)
    if not config.quiet:
        typer.echo(path)


app.command(
    "download",
    cls=MamCommand,
    epilog=_examples(
        "mam weights download sam_vit_b",
        "mam weights download mam_vit_b --url https://my.mirror/mam_vitb.pth",
        "mam weights download sam_vit_b -q --url file:///usb/sam_vit_b_01ec64.pth",
    ),
)(with_params(_weights_download, DOWNLOAD_PARAMS, [config_argument(DownloadConfig, "checkpoint")]))


@app.command(
    "path",
    epilog=_examples(
        "mam weights path sam_vit_b",
        'mam matte photos/ --sam-checkpoint "$(mam weights path sam_vit_b)"',
    ),
)
def _weights_path(name: str = typer.Argument(..., help="Checkpoint name.")) -> None:
    """Print where a checkpoint is cached; exit 1 if it is not downloaded yet."""
    from mamcli.hub.weights import cached_path

    try:
        path = cached_path(name)
    except MamError as error:
        fail(error)
    if not path.is_file():
        fail(f"{name} is not downloaded: run `mam weights download {name}` or put it at {path}", 1)
    typer.echo(path)
