"""`memcli` command line: each command parses, calls one library function, formats.

Data to stdout, errors as one line on stderr with exit status 1. Heavy modules load lazily."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import typer

from .errors import MemcliError

app = typer.Typer(
    name="memcli", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="A local-first personal memory: notes, chats and imports in one SQLite file.",
)


class State:
    def __init__(self, home: Optional[Path]):
        self.home = home
        self._memory = None

    @property
    def memory(self):
        if self._memory is None:
            from .services import Memory

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
    except Exception as exc:
        if type(exc).__module__.split(".")[0] in ("sqlite3", "pysqlite3", "sqlean"):
            typer.echo(f"Error: database: {exc}", err=True)
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


def _memory(ctx: typer.Context):
    return ctx.obj.memory


def emit_json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def snippet(text: str, width: int = 160) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def print_hit(n: int, hit) -> None:
    src = hit.source
    where = src.get("title") or src.get("path") or src.get("type")
    date = (hit.created_at or "")[:10]
    role = f"{hit.role}: " if hit.role else ""
    typer.echo(f"{n:>2}. [{hit.id}] {hit.kind} · {date} · {where}")
    typer.echo(f"    {role}{snippet(hit.text)}")


# ---- commands ------------------------------------------------------------------------------------
@app.command()
def add(
    ctx: typer.Context,
    text: Optional[str] = typer.Argument(None, help="The note; omit or '-' to read stdin."),
    title: Optional[str] = typer.Option(None, "--title", "-t"),
    tag: List[str] = typer.Option([], "--tag", help="Tag (repeatable)."),
    date: Optional[str] = typer.Option(None, "--date", help="When it happened (default: now)."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Remember a note."""
    if text is None or text == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise MemcliError("give the note as an argument or pipe it on stdin")
        text = sys.stdin.read()
    mem = _memory(ctx)
    created = None
    if date:
        from .timeutil import iso, parse_user_date

        created = iso(parse_user_date(date, what="--date"))
    item_id = mem.remember(text, title=title, tags=tag, created_at=created)
    if as_json:
        emit_json({"id": item_id})
    else:
        typer.echo(f"Remembered #{item_id}")


@app.command()
def search(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="What to look for (words or a question)."),
    n: int = typer.Option(10, "-n", "--limit", help="How many hits."),
    as_json: bool = typer.Option(False, "--json"),
    since: Optional[str] = typer.Option(None, "--since", help="Only items from this date on."),
    until: Optional[str] = typer.Option(None, "--until", help="Only items before this date."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Treat this date as now."),
    kind: List[str] = typer.Option([], "--kind", help="note, message, section, … (repeatable)."),
    source: List[str] = typer.Option([], "--source", help="cli, chatgpt, claude, markdown, jsonl, chat."),
    tag: List[str] = typer.Option([], "--tag", help="Only items with this tag (repeatable)."),
):
    """Hybrid (keyword + semantic) search over everything remembered."""
    mem = _memory(ctx)
    now = mem.resolve_now(as_of)
    filters = mem.make_filters(kinds=kind, sources=source, tags=tag, since=since, until=until,
                               now=now)
    hits = mem.search(query, limit=n, filters=filters, now=now)
    if as_json:
        emit_json([h.to_json() for h in hits])
        return
    if not hits:
        typer.echo("No matches.")
    for i, h in enumerate(hits, 1):
        print_hit(i, h)


def _parse_id(value: str) -> int:
    try:
        item_id = int(value.lstrip("#"))
    except ValueError:
        raise MemcliError(f"{value!r} is not an item id (ids are numbers, e.g. 42)") from None
    if not 0 < item_id < 2**63:
        raise MemcliError(f"no item with id {value}")
    return item_id


@app.command()
def show(
    ctx: typer.Context,
    item_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json"),
):
    """Show one item with its source, tags, links and history."""
    data = _memory(ctx).show(_parse_id(item_id))
    if as_json:
        emit_json(data)
        return
    head = f"#{data['id']} {data['kind']}"
    if data.get("title"):
        head += f" · {data['title']}"
    typer.echo(head)
    typer.echo(f"date: {data['created_at']}")
    src = data["source"]
    typer.echo("source: " + ", ".join(f"{k}={v}" for k, v in src.items() if v))
    if data.get("tags"):
        typer.echo("tags: " + " ".join("#" + t for t in data["tags"]))
    for key in ("valid_from", "valid_to", "superseded_by", "sources"):
        if data.get(key):
            typer.echo(f"{key}: {data[key]}")
    for key in ("links", "backlinks"):
        for link in data.get(key, []):
            label = link.get("title") or link.get("target") or ""
            typer.echo(f"{key[:-1]}: [{link['id']}] {link['type']} {label}")
    for key in ("keywords", "context"):
        if data.get(key):
            typer.echo(f"{key}: {', '.join(data[key]) if isinstance(data[key], list) else data[key]}")
    for h in data.get("history", []):
        typer.echo(f"history: {h['changed_at']} {h['field']} {h['old_value']} → {h['new_value']}"
                   f" ({h['reason'] or ''})")
    typer.echo("")
    typer.echo(data["text"])


@app.command()
def forget(
    ctx: typer.Context,
    item_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json"),
):
    """Remove an item from the memory, its indexes and the notes that rested only on it."""
    removed = _memory(ctx).forget(_parse_id(item_id))
    if as_json:
        emit_json({"removed": removed})
    else:
        extra = f" (and {len(removed) - 1} derived)" if len(removed) > 1 else ""
        typer.echo(f"Forgot #{removed[0]}{extra}")


@app.command()
def stats(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")):
    """Counts of what the memory holds."""
    data = _memory(ctx).stats()
    if as_json:
        emit_json(data)
        return
    for key in ("conversations", "messages", "notes", "items", "links", "tags", "vectors",
                "oldest", "newest", "embedding_model", "database", "size_bytes"):
        typer.echo(f"{key:>16}: {data.get(key)}")


@app.command()
def reindex(ctx: typer.Context):
    """Re-embed everything with the configured embedding model."""
    mem = _memory(ctx)
    total = mem.reindex()
    typer.echo(f"Re-embedded {total} items with {mem.embedder.model_id}")

# Command groups that live in their own modules register themselves on `app` when imported.
# Keep these imports cheap (no heavy libraries at module level).
from . import cli_maint  # noqa: E402,F401
from . import cli_chat  # noqa: E402,F401
from . import cli_digest  # noqa: E402,F401
from . import cli_ask  # noqa: E402,F401
from . import cli_import  # noqa: E402,F401


def run() -> None:
    app()


if __name__ == "__main__":
    run()
