"""`python -m memcli` — the same as the `memcli` command."""

from .cli import run

run()
