"""An ORACLE stand-in for a capable model, for ``benchmarks/updates.py --oracle-model`` (issue 14).

It is built from the synthetic split's truth, not from any model: it measures what the capable
path's pipeline (prompts/digest_notes_capable.md's answers validated by
services/digest/extract.model_attribute, then updates.candidates and updates.judge) does with a
model that places every statement correctly, i.e. the ceiling of that path, never what a real
model would reach.

- Notes prompt: for each message of the transcript that states an attribute's value (the
  benchmark knows each turn's ``attr:version`` tag and the value), one note in the message's own
  words with that attribute and value (an attribute digest has no name for, such as ``band``, is
  given as "none"); nothing for the other messages (digest's rules write their notes).
- Update prompt: "update" when both notes rest on statements of the same attribute, "unrelated"
  otherwise (a filler line or a confuser included).
- Anything else (summaries): not JSON, so digest's own fallback stands."""

from __future__ import annotations

import json
import re

ASKS_NOTES = "extract durable personal memories"  # prompts/digest_notes*.md's system line
ASKS_UPDATE = "updates an older one"  # prompts/digest_update.md's system line
LINE = re.compile(r"^\[(\d+)\] [^:]+: (.*)$", re.M)
NOTE = re.compile(r"^(Older|Newer) note \([^)]*\): (.*)$", re.M)
# a benchmark attribute under the name digest knows it by (retrieval/attribute_meaning.PROTOTYPES)
ALIASES = {"club": "team"}


def oracle_model(p: dict, mem, tag_of):
    """A FakeLLM answering from persona ``p``'s truth (see the module doc); ``mem`` is the memory
    being digested (the update prompt's notes are looked up there, ``tag_of(mem, id)`` gives the
    tag of the message a fact rests on)."""
    from memcli.backends.fakes import FakeLLM
    from memcli.retrieval.attribute_meaning import PROTOTYPES

    stated: dict[str, tuple[str, str]] = {}  # message text → (attribute name, value)
    for c in p["convs"]:
        for _, text, tag in c["turns"]:
            attr, _, ver = tag.partition(":")
            if attr in p["truth"] and ver.isdigit():
                name = ALIASES.get(attr, attr)
                stated[" ".join(text.split())[:400]] = (
                    name if name in PROTOTYPES else "none", p["truth"][attr][int(ver)])

    def attr_of(note: str) -> str | None:
        for f in mem.store.list_derived(["fact"]):
            if f["text"][:300] == note:
                a, _, _ = tag_of(mem, f["id"]).partition(":")
                return a if a in p["truth"] else None
        return None

    def respond(messages: list[dict]) -> str:
        system, user = messages[0]["content"], messages[-1]["content"]
        if ASKS_UPDATE in system:
            notes = dict(NOTE.findall(user))
            a, b = attr_of(notes.get("Older", "")), attr_of(notes.get("Newer", ""))
            same = a is not None and a == b
            return json.dumps({"relation": "update" if same else "unrelated",
                               "reason": "oracle: same attribute" if same else "oracle: other"})
        if ASKS_NOTES not in system:
            return "not json"
        out = []
        for i, body in LINE.findall(user):
            if body in stated:
                name, value = stated[body]
                out.append({"message": int(i), "text": body, "type": "fact", "keywords": [],
                            "context": "stated by the speaker", "attribute": name,
                            "value": value})
        return json.dumps({"notes": out[:6]})

    return FakeLLM(respond, model_id="oracle")
