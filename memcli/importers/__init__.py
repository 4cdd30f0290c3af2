"""Parsers for exports: each yields plain records (no SQL); :mod:`memcli.ingest` stores them.

- :mod:`.chatgpt`: ChatGPT data export (zip, folder, ``conversations.json``, split files)
- :mod:`.claude`: Claude data export (zip, folder, ``conversations.json`` + projects, memories)
- :mod:`.markdown`: Markdown files and Obsidian vaults
- :mod:`.jsonl`: the documented one-conversation-per-line interchange format
"""

from memcli.importers.base import Conversation, Document, Failed, Message

__all__ = ["Conversation", "Document", "Failed", "Message"]
