"""`python -m memcli` — the same as the `memcli` command."""

from memcli.main import run

run()
