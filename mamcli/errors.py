"""Errors that reach the user as one clear line."""


class MamError(Exception):
    """A problem the user can act on; the CLI prints its message as one line."""


class InputError(MamError):
    """A bad input file (image, prompt file, checkpoint): names the file and the problem."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
