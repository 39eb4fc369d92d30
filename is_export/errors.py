"""User-facing errors: each carries a one-line message naming the problem."""


class ExportError(Exception):
    """A problem with the user's input or options; the CLI prints it on one line and exits 1."""
