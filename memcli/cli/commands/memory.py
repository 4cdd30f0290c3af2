"""`memcli add|search|show|forget|stats|reindex`: the everyday commands."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from memcli.cli.app import app, emit_json, memory_of, parse_id, print_hit
from memcli.cli.commands.importing import auto_digest
from memcli.core.errors import MemcliError

AUTO_DIGEST_MAX_CHARS = 1_000_000  # a bigger note is stored at once and digested by `memcli digest`


@app.command()
def add(
    ctx: typer.Context,
    text: Optional[str] = typer.Argument(None, help="The note; omit or '-' to read stdin."),
    title: Optional[str] = typer.Option(None, "--title", "-t"),
    tag: List[str] = typer.Option([], "--tag", help="Tag (repeatable)."),
    date: Optional[str] = typer.Option(None, "--date", help="When it happened (default: now)."),
    as_json: bool = typer.Option(False, "--json"),
    no_digest: bool = typer.Option(False, "--no-digest", help="Skip the automatic digest of "
                                   "the note (facts, links, updates); `memcli digest` does it later."),
    lossy: bool = typer.Option(False, "--lossy", help="Store text that is not valid UTF-8 or "
                               "holds NUL bytes, with the bad bytes replaced (default: refuse)."),
):
    """Remember a note (and digest what is new). A long note is stored as sections."""
    origin = "the note"
    if text is None or text == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise MemcliError("give the note as an argument or pipe it on stdin")
        raw = getattr(sys.stdin, "buffer", None)
        text = (raw.read().decode("utf-8", "surrogateescape").removeprefix("\ufeff")
                if raw is not None else sys.stdin.read())
        origin = "stdin"
    mem = memory_of(ctx)
    created = None
    if date:
        from memcli.core.timeutil import iso, parse_user_date

        created = iso(parse_user_date(date, what="--date"))
    ids = mem.remember_parts(text, title=title, tags=tag, created_at=created, lossy=lossy,
                             origin=origin)
    big = len(text) > AUTO_DIGEST_MAX_CHARS  # minutes of digest: `memcli digest` does it later
    auto_digest(mem, not no_digest and not big, True)
    if big and not no_digest:
        typer.echo(f"note: a {len(text) / 2**20:.0f} MB note is not digested on add; run "
                   "`memcli digest` for its facts and links", err=True)
    if as_json:
        emit_json({"id": ids[0], "ids": ids} if len(ids) > 1 else {"id": ids[0]})
    elif len(ids) > 1:
        typer.echo(f"Remembered #{ids[0]} as {len(ids)} sections (#{ids[0]}-#{ids[-1]})")
    else:
        typer.echo(f"Remembered #{ids[0]}")


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
    mem = memory_of(ctx)
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


@app.command()
def show(
    ctx: typer.Context,
    item_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json"),
):
    """Show one item with its source, tags, links and history."""
    data = memory_of(ctx).show(parse_id(item_id))
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
    """Remove an item, its index rows and every note derived from it; no copy stays in the file."""
    removed = memory_of(ctx).forget(parse_id(item_id))
    if as_json:
        emit_json({"removed": removed})
    else:
        extra = f" (and {len(removed) - 1} derived)" if len(removed) > 1 else ""
        typer.echo(f"Forgot #{removed[0]}{extra}")


@app.command()
def stats(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")):
    """Counts of what the memory holds."""
    data = memory_of(ctx).stats()
    if as_json:
        emit_json(data)
        return
    for key in ("conversations", "messages", "notes", "items", "links", "tags", "vectors",
                "oldest", "newest", "embedding_model", "database", "size_bytes"):
        typer.echo(f"{key:>16}: {data.get(key)}")


@app.command()
def reindex(ctx: typer.Context):
    """Re-embed everything with the configured embedding model."""
    mem = memory_of(ctx)
    total = mem.reindex()
    typer.echo(f"Re-embedded {total} items with {mem.embedder.model_id}")
