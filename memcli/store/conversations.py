"""Conversations and the messages in them, in order."""

from __future__ import annotations

import json

from memcli.core.models import clean_text
from memcli.core.timeutil import normalize
from memcli.store.sql import row_dicts


class ConversationsMixin:
    def upsert_conversation(self, source: str, external_id: str, *, title: str | None = None,
                            created_at: str | None = None, updated_at: str | None = None,
                            path: str | None = None, meta: dict | None = None) -> int:
        source, external_id, title, path = map(clean_text, (source, external_id, title, path))
        row = self.conn.execute(
            "SELECT id FROM conversations WHERE source = ? AND external_id = ?",
            (source, external_id)).fetchone()
        if row:
            self.conn.execute(
                "UPDATE conversations SET title = COALESCE(?, title), "
                "updated_at = COALESCE(?, updated_at) WHERE id = ?", (title, updated_at, row[0]))
            return row[0]
        cur = self.conn.execute(
            "INSERT INTO conversations(source, external_id, title, created_at, updated_at, path, meta)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (source, external_id, title, normalize(created_at), normalize(updated_at), path,
             json.dumps(meta) if meta else None))
        return cur.lastrowid

    def conversation(self, conv_id: int) -> dict | None:
        rows = row_dicts(self.conn.execute("SELECT * FROM conversations WHERE id = ?", (conv_id,)))
        return rows[0] if rows else None

    def find_conversation(self, source: str, external_id: str) -> dict | None:
        rows = row_dicts(self.conn.execute(
            "SELECT * FROM conversations WHERE source = ? AND external_id = ?", (source, external_id)))
        return rows[0] if rows else None

    def all_conversations(self) -> list[dict]:
        return row_dicts(self.conn.execute("SELECT * FROM conversations ORDER BY id"))

    def conversation_messages(self, conv_id: int) -> list[dict]:
        return row_dicts(self.conn.execute(
            "SELECT * FROM items WHERE conversation_id = ? ORDER BY position, id", (conv_id,)))

    def neighbours(self, conv_id: int, position: int, before: int = 2, after: int = 2
                   ) -> tuple[list[dict], list[dict]]:
        """Messages just before and just after ``position`` in a conversation, in order."""
        cols = "id, kind, role, text, title, created_at, position"
        prev = row_dicts(self.conn.execute(
            f"SELECT {cols} FROM items WHERE conversation_id = ? AND position < ? "
            "ORDER BY position DESC, id DESC LIMIT ?", (conv_id, position, before)))
        nxt = row_dicts(self.conn.execute(
            f"SELECT {cols} FROM items WHERE conversation_id = ? AND position > ? "
            "ORDER BY position, id LIMIT ?", (conv_id, position, after)))
        return prev[::-1], nxt

    def next_position(self, conv_id: int) -> int:
        row = self.conn.execute(
            "SELECT COALESCE(MAX(position), -1) + 1 FROM items WHERE conversation_id = ?",
            (conv_id,)).fetchone()
        return row[0]

    def orphaned_conversations(self) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT id FROM conversations c WHERE NOT EXISTS "
            "(SELECT 1 FROM items WHERE conversation_id = c.id)")]

    def delete_conversation(self, conv_id: int) -> None:
        with self.transaction():
            for (item_id,) in self.conn.execute(
                    "SELECT id FROM items WHERE conversation_id = ?", (conv_id,)).fetchall():
                self.delete_item(item_id)
            self.conn.execute("DELETE FROM conversations WHERE id = ?", (conv_id,))
