"""The one user-facing error type. The CLI prints a CodemixError as one line (`codemix: error:
...`) and exits with status 2; any other exception is a bug and keeps its traceback."""


class CodemixError(Exception):
    """A user-facing error: bad recipe, bad file, bad row."""
