"""Memory that organises itself: topic segments, summaries, atomic notes, links, supersession and
de-duplication (pipeline.py and the modules it calls). Reflection is services/reflect.py; ranking
over the digested structure is memcli/retrieval/graph.py."""

from __future__ import annotations


def digest(memory, **kwargs):
    """``memcli.services.digest.pipeline.digest``, without importing numpy until it runs."""
    from memcli.services.digest.pipeline import digest as _digest

    return _digest(memory, **kwargs)
