"""Memory that organises itself: digest (segments, summaries, atomic notes, links, supersession,
de-duplication), reflect, and retrieval over that structure (graph). Core code: no CLI imports."""

from __future__ import annotations


def digest(memory, **kwargs):
    from memcli.services.digest.pipeline import digest as _digest

    return _digest(memory, **kwargs)


def reflect(memory, **kwargs):
    from memcli.services.reflect import reflect as _reflect

    return _reflect(memory, **kwargs)
