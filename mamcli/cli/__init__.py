"""The `mam` command line: one module per verb, each parsing options into a config and
calling the library function a Python user would call."""

from mamcli.cli.app import app, main

__all__ = ["app", "main"]
