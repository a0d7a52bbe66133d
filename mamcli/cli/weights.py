"""`mam weights`: list, download and locate checkpoints (mamcli/hub/)."""

from __future__ import annotations

import typer

from mamcli.cli.common import fail
from mamcli.errors import MamError

app = typer.Typer(help="List, download and locate model checkpoints.", no_args_is_help=True)


@app.command("list")
def _weights_list() -> None:
    """Show the known checkpoints, their hashes and whether they are cached."""
    from rich.console import Console
    from rich.table import Table

    from mamcli.hub.weights import REGISTRY, cache_dir, cached_path

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


@app.command("download")
def _weights_download(
    name: str = typer.Argument(..., help="Checkpoint name (see `mam weights list`)."),
    url: str | None = typer.Option(
        None,
        "--url",
        help="Download from here instead (http(s)://, file:// or hf://OWNER/REPO/PATH).",
    ),
    force: bool = typer.Option(False, "--force", help="Download again even if cached."),
) -> None:
    """Download a checkpoint into the cache (verifying its hash) and print its path."""
    from mamcli.hub.weights import download

    try:
        typer.echo(download(name, url=url, force=force))
    except MamError as error:
        fail(error)


@app.command("path")
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
