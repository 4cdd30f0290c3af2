"""The `memcli` script: the typer app with every command group registered on it."""

from __future__ import annotations

from memcli.cli.app import app
from memcli.cli.commands import ask, chat, digest, export, importing, maint, memory  # noqa: F401

__all__ = ["app", "run"]


def run() -> None:
    app()


if __name__ == "__main__":
    run()
