"""`python -m mamcli` runs the command-line interface."""

from mamcli.cli import main

main()
