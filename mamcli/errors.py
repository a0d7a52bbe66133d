"""Errors that reach the user as one clear line, each kind with its own exit code.

The CLI catches `MamError` in one place (`mamcli.cli.app.MamGroup`) and exits with the
error's `exit_code`; docs/reliability.md lists the codes.
"""


class MamError(Exception):
    """A problem the user can act on; the CLI prints its message as one line."""

    exit_code = 2


class UsageError(MamError, ValueError):
    """A bad option value or a missing/unusable input path, found before any work."""

    exit_code = 2


class InputError(MamError):
    """A bad input file (image, prompt file, checkpoint): names the file and the problem."""

    exit_code = 2

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class OutputError(MamError):
    """The output folder cannot be written (read-only, full disk, not a folder)."""

    exit_code = 3


class NetworkError(MamError):
    """A download failed: no network, a host that does not resolve, a refused connection."""

    exit_code = 4


class BusyError(MamError):
    """Another live `mam` run holds the output folder's lock."""

    exit_code = 5


INTERRUPTED = 130
