"""Errors that reach the user as one line on stderr."""

SQLITE_MODULES = ("sqlite3", "pysqlite3", "sqlean")


def is_database_error(exc: BaseException) -> bool:
    """Raised by the SQLite driver (sqlite3, pysqlite3 or sqlean), told without importing it."""
    return type(exc).__module__.split(".")[0] in SQLITE_MODULES


class MemcliError(Exception):
    """A problem the user can act on. The CLI prints `Error: <message>` and exits 1."""


class NotFound(MemcliError):
    pass


class ModelMismatch(MemcliError):
    pass


class ImportFailed(MemcliError):
    pass
