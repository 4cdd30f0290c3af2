"""`memcli ask`: a cited answer from the memory, streamed to the terminal."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from memcli.cli.app import app, emit_json, memory_of, model_choice, snippet


@app.command()
def ask(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="Your question, in plain words."),
    n: Optional[int] = typer.Option(
        None, "-n", "--limit",
        help="How many retrieved items the context is chosen from (default: 8 for the small "
             "profile, [ask] context_items; 60 for the capable one)."),
    as_json: bool = typer.Option(
        False, "--json", help="Print {answer, abstained, citations, model, context}."),
    as_of: Optional[str] = typer.Option(
        None, "--as-of", help="Treat this date as now (for 'last month', 'yesterday', …)."),
    model: Optional[str] = typer.Option(
        None, "--model", help="GGUF file (llama backend) or model name (openai backend)."),
    no_llm: bool = typer.Option(
        False, "--no-llm", help="Retrieval only: the best evidence, cited; loads no model."),
    since: Optional[str] = typer.Option(None, "--since", help="Only items from this date on."),
    until: Optional[str] = typer.Option(None, "--until", help="Only items before this date."),
    kind: List[str] = typer.Option([], "--kind", help="note, message, section, … (repeatable)."),
    source: List[str] = typer.Option([], "--source", help="cli, chatgpt, claude, markdown, …"),
    tag: List[str] = typer.Option([], "--tag", help="Only items with this tag (repeatable)."),
    max_tokens: Optional[int] = typer.Option(
        None, "--max-tokens",
        help="Longest answer, in tokens (default: config llm max_tokens, 256)."),
    profile: Optional[str] = typer.Option(
        None, "--profile",
        help="small or capable: how much context the model gets (default: config ask profile)."),
):
    """Answer a question from your memory, citing the notes and messages it rests on."""
    from memcli.services.ask import ask as ask_memory

    mem = memory_of(ctx)
    now = mem.resolve_now(as_of)
    filters = mem.make_filters(kinds=kind, sources=source, tags=tag, since=since, until=until,
                               now=now)
    use_llm, llm = model_choice(mem, no_llm, model)

    def stream(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    answer = ask_memory(mem, question, limit=n, now=now, llm=llm, use_llm=use_llm,
                        filters=filters, max_tokens=max_tokens, profile=profile,
                        on_token=None if as_json else stream)
    if as_json:
        emit_json(answer.to_json())
        return
    typer.echo("")
    if answer.abstained or not answer.citations:
        return
    typer.echo("")
    typer.echo("Sources:")
    for c in answer.citations:
        where = c.source.get("title") or c.source.get("path") or c.source.get("type") or ""
        typer.echo(f"[{c.n}] #{c.id} · {(c.created_at or '')[:10]} · {c.kind}"
                   + (f" · {snippet(where, 60)}" if where else ""))
        if not answer.used_evidence:  # the evidence list already quoted the text
            typer.echo(f"    {snippet(c.text, 150)}")
