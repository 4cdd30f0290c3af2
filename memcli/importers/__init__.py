"""Parsers for exports: each yields plain records (no SQL); :mod:`memcli.services.ingest` stores them.

- :mod:`.chatgpt`: ChatGPT data export (zip, folder, ``conversations.json``, split files)
- :mod:`.claude`: Claude data export (zip, folder, ``conversations.json`` + projects, memories)
- :mod:`.markdown`: Markdown files and Obsidian vaults
- :mod:`.jsonl`: the documented one-conversation-per-line interchange format
- :mod:`.memcli`: another memcli memory (merging a second device's)

``FORMATS`` is the one list of them: ``import_path`` (memcli.services.ingest) and every front end
(``memcli import <name>``) read it. A parser module is imported when its format is first used, so
reading the list costs a front end nothing; the record types are in :mod:`.base`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from memcli.core.errors import ImportFailed

__all__ = ["FORMATS", "Format", "Switch", "import_format"]


@dataclass(frozen=True)
class Switch:
    """A yes/no option a format's parser takes (``--all-branches`` on the command line)."""

    name: str  # the parser's keyword argument
    help: str


@dataclass(frozen=True)
class Format:
    """One importable format. ``records`` says what its parser yields: ``"conversations"``
    (``Conversation``/``Document``/``Failed``; messages are the unit) or ``"notes"`` (Markdown
    note files with sections and links; files are the unit), or ``"memory"``: another memcli
    database, which only the store can read (memcli.services.merge reads it and ``load`` gives
    the converter of its rows, not a parser of the path)."""

    name: str
    records: str
    summary: str  # one line: what it imports
    path_help: str  # what PATH may be
    load: Callable[[], Callable[..., Iterator]]  # imports the parser module, returns its parse()
    details: str = ""
    switches: tuple[Switch, ...] = ()

    @property
    def help(self) -> str:
        return f"{self.summary}\n\n{self.details}" if self.details else self.summary

    def parse(self, path: Path, **options) -> Iterator:
        """The records of ``path``; ``options`` are this format's switches (others are refused)."""
        if self.records == "memory":  # only the store reads a database: see services/merge.py
            raise ImportFailed(f"{path}: import {self.name} goes through "
                               "memcli.services.ingest.import_path")
        known = {s.name for s in self.switches}
        unknown = sorted(set(options) - known)
        if unknown:
            takes = f"only {', '.join(sorted(known))}" if known else "none"
            raise ImportFailed(f"the {self.name} import takes no option {', '.join(unknown)} "
                               f"(options: {takes})")
        return self.load()(path, **options)


def _chatgpt():
    from memcli.importers import chatgpt

    return chatgpt.parse


def _claude():
    from memcli.importers import claude

    return claude.parse


def _markdown():
    from memcli.importers import markdown

    return markdown.parse


def _jsonl():
    from memcli.importers import jsonl

    return jsonl.parse


def _memcli():
    from memcli.importers import memcli

    return memcli.convert


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("chatgpt", "conversations", load=_chatgpt,
           summary="Import a ChatGPT data export (Settings → Data controls → Export).",
           path_help="The export zip, its folder, or conversations.json.",
           switches=(Switch("all_branches", "Also keep edited/regenerated branches, not only the "
                                            "visible thread."),)),
    Format("claude", "conversations", load=_claude,
           summary="Import a Claude data export (conversations, project docs, memories).",
           path_help="The export zip, its folder, or conversations.json."),
    Format("markdown", "notes", load=_markdown,
           summary="Import Markdown notes or an Obsidian vault, with tags and wikilinks.",
           details="Long notes are split at headings; a changed file replaces its old items on "
                   "re-import.",
           path_help="A Markdown file or a folder (an Obsidian vault)."),
    Format("jsonl", "conversations", load=_jsonl,
           summary="Import conversations in the documented JSON Lines format (see the README).",
           path_help="A .jsonl file: one conversation per line."),
    Format("memcli", "memory", load=_memcli,
           summary="Merge another memcli memory (a second device's) into this one.",
           details="Conversations, messages and notes keep their provenance; what is already "
                   "here is skipped, so a second merge adds nothing. Derived notes are not "
                   "copied: the digest derives them again.",
           path_help="The other memory's database file (its memcli.db, or a backup of it)."),
)}


def import_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise ImportFailed(f"unknown import source {name!r}; use one of "
                           f"{', '.join(FORMATS)}") from None
