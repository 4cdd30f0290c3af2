"""The typer app of `memcli`: the error boundary, the global options and output helpers.

Commands live in memcli/cli/commands/ and register on ``app``; memcli/main.py imports them.
Each command parses, calls one library function, formats.

Data to stdout, errors as one line on stderr with exit status 1. Heavy modules load lazily."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from memcli.cli import coercion
from memcli.core.errors import MemcliError, is_database_error
from memcli.core.text import one_line

coercion.install()  # plain option values without importing pydantic (~70 ms of a one-shot search)


class OneLineErrors(TyperGroup):
    """Usage errors (a missing argument, an unknown option or command) as one `Error: …` line on
    stderr with exit status 2, instead of click's boxed usage block; `--help` is unchanged."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from typer._click.exceptions import ClickException  # typer bundles its own click

        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
        except ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `memcli`: the help, as before
                exc.show()
            else:
                where = exc.ctx.command_path if getattr(exc, "ctx", None) else "memcli"
                typer.echo(f"Error: {one_line(exc.format_message(), 300)} "
                           f"(see `{where} --help`)", err=True)
            code = exc.exit_code
        except typer.Abort:
            typer.echo("Error: aborted", err=True)
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code)


app = typer.Typer(
    name="memcli", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="A local-first personal memory: notes, chats and imports in one SQLite file.",
    cls=OneLineErrors,
)


class State:
    def __init__(self, home: Optional[Path]):
        self.home = home
        self._memory = None

    @property
    def memory(self):
        if self._memory is None:
            from memcli.services.memory import Memory

            self._memory = Memory(self.home)
        return self._memory

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()


@contextmanager
def _user_errors(state: State):
    """The one place a MemcliError (or a SQLite error) becomes `Error: …` on stderr, exit 1."""
    try:
        yield
    except MemcliError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None
    except UnicodeError as exc:  # undecodable bytes in argv/stdin/a file that slipped through
        typer.echo(f"Error: the input is not valid UTF-8 text ({exc.reason})", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:  # e.g. --home naming a place memcli may not create
        where = f"{exc.filename}: " if exc.filename else ""
        typer.echo(f"Error: {where}{exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:
        if is_database_error(exc):
            from memcli.services.maintenance import database_problem

            typer.echo(f"Error: {database_problem(state.home, exc)}", err=True)
            raise typer.Exit(1) from None
        raise
    finally:
        state.close()


@app.callback()
def main(
    ctx: typer.Context,
    home: Optional[Path] = typer.Option(
        None, "--home", envvar="MEMCLI_HOME", help="Data directory (default: the user data dir)."),
):
    state = State(home)
    ctx.obj = state
    ctx.with_resource(_user_errors(state))


def memory_of(ctx: typer.Context):
    return ctx.obj.memory


def emit_json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def snippet(text: str, width: int = 160) -> str:
    return one_line(text, width)


def print_hit(n: int, hit) -> None:
    src = hit.source
    where = src.get("title") or src.get("path") or src.get("type")
    date = (hit.created_at or "")[:10]
    role = f"{hit.role}: " if hit.role else ""
    typer.echo(f"{n:>2}. [{hit.id}] {hit.kind} · {date} · {where}")
    typer.echo(f"    {role}{snippet(hit.text)}")


def model_choice(mem, no_llm: bool, model: Optional[str]):
    """``(use_llm, llm)`` from ``--no-llm`` and ``--model``: no model, the one ``--model`` names,
    or (None) the configured one, which the service builds when it needs it."""
    if no_llm:
        return False, None
    if model:
        from memcli.backends.factory import make_llm

        return True, make_llm(mem.config, model)
    return True, None


def parse_id(value: str) -> int:
    try:
        item_id = int(value.lstrip("#"))
    except ValueError:
        raise MemcliError(f"{value!r} is not an item id (ids are numbers, e.g. 42)") from None
    if not 0 < item_id < 2**63:
        raise MemcliError(f"no item with id {value}")
    return item_id
