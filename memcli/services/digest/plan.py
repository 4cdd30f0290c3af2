"""A unit of the digest's work between planning and writing (services/digest/pipeline.py)."""

from __future__ import annotations

from dataclasses import dataclass

EMBED_BATCH = 256  # texts embedded together: enough for the int8 path's bulk speed


@dataclass
class Plan:
    """One unit of digest work, planned (segments, summaries, candidate notes) and not yet
    written: pipeline.Digester embeds several plans' texts in one batch, then writes each."""

    kind: str  # "conversation" or "item" (its digest mark's kind)
    unit: int
    mark: int
    messages: int
    summaries: list  # (proposal, messages, key)
    notes: list  # (candidates, messages)
    row: dict | None = None  # a standalone item (its older version may be superseded)

    def texts(self) -> list[str]:
        from memcli.services.memory import embed_text

        out = [embed_text(p[1], p[0]) for p, _, _ in self.summaries if p[0]]
        return out + [c.text for cands, _ in self.notes for c in cands]
