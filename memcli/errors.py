"""Errors that reach the user as one line on stderr."""


class MemcliError(Exception):
    """A problem the user can act on. The CLI prints `Error: <message>` and exits 1."""


class NotFound(MemcliError):
    pass


class ModelMismatch(MemcliError):
    pass


class ImportFailed(MemcliError):
    pass
