"""`python -m mamcli` runs the command-line interface."""

from mamcli.cli import main

if __name__ == "__main__":
    main()
