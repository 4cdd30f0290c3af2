"""The attributes of a person by meaning: a few plain sentences per attribute (in the third
person digest's facts are written in; a value of a named kind is a placeholder name, so what is
compared is the statement's frame), embedded once with the store's own embedder, and the nearest
attribute of a statement's vector. Digest places facts with it (services/digest/attributes.py),
search orders the person's statements about the attribute a question asks about
(retrieval/attribute_query.py)."""

from __future__ import annotations

import base64
import zlib

# Plain statements of each attribute, in the third person digest's facts are written in; the value
# of a named kind is a placeholder name, so what is compared is the statement's frame.
PROTOTYPES: dict[str, tuple[str, ...]] = {
    "residence": ("User lives in this city.", "User moved to a new city.",
                  "User's home is a flat in the town centre.",
                  "User bought a house and moved in.", "User's new address is in another town."),
    "employer": ("User works for this company.", "User started a new job at another company.",
                 "User's employer is a software firm.", "User accepted a job offer.",
                 "User quit the old job and joined a new company."),
    "job": ("User's job title is senior engineer.", "User got promoted at work.",
            "User works as a manager.", "User's role at work changed.",
            "User became the team's lead developer."),
    "car": ("User drives this car.", "User bought a new car.", "User's car is an electric car.",
            "User sold the old car and got another one."),
    "phone": ("User's phone number is this.", "User got a new phone number.",
              "User can be called on this mobile number."),
    "email": ("User's email address is this.", "User changed email address."),
    "diet": ("User is vegetarian.", "User follows a special diet.", "User stopped eating meat.",
             "User's diet changed."),
    "partner": ("User's partner is called Alex.", "User is dating someone new.",
                "User has a new girlfriend.", "User and the boyfriend are a couple."),
    "school": ("User studies at this university.", "User is a student at a college.",
               "User started a degree at a new university."),
    "pet": ("User's dog is called Rex.", "User adopted a cat.", "User's pet is a rabbit."),
    "hobby": ("User's hobby is painting.", "User spends free time on a sport.",
              "User took up a new hobby."),
    "gym": ("User goes to this gym.", "User trains at a fitness club.",
            "User has a gym membership.", "User joined a new gym."),
    "language": ("User is learning a foreign language.", "User takes Spanish lessons."),
    # a wider catalogue of the things about a person that change (issue 14): one more attribute
    # to be placed in is also one more a statement can fall into instead of a wrong neighbour
    "instrument": ("User plays the violin.", "User is learning to play an instrument.",
                   "User practises the piano every day.", "User bought a new guitar."),
    "doctor": ("User's doctor is Dr Smith.", "User sees this GP at the clinic.",
               "User registered with a new family doctor.", "User's dentist is Dr Jones."),
    "bank": ("User banks with this bank.", "User opened an account at a new bank.",
             "User's savings and salary are in this bank account.",
             "User moved the money to a different bank."),
    "commute": ("User commutes to work by train.", "User cycles to the office.",
                "User's way to work changed.", "User takes the bus to work now."),
    "team": ("User supports this football club.", "User is a fan of this sports team.",
             "User has a season ticket for the club.", "User switched to supporting another team."),
    "provider": ("User's internet provider is this company.", "User switched mobile carrier.",
                 "User's energy supplier changed."),
    "device": ("User's phone is an iPhone.", "User got a new laptop.",
               "User uses this smartphone model."),
    "insurance": ("User's health insurance is with this insurer.",
                  "User changed car insurance company."),
}
# attributes whose value is a name or a number (the others: a job title, a diet, a hobby …)
NAMED = frozenset({"residence", "employer", "car", "phone", "email", "partner", "school", "pet",
                   "gym", "language", "doctor", "bank", "team", "provider", "device",
                   "insurance"})
_CACHE: dict[str, tuple[list[str], object]] = {}
META_KEY = "prototypes:"  # + the table's name: its vectors, kept in the store's meta table


_CRC: dict[int, int] = {}  # id(table) → crc32 of its texts (the tables are module constants)


def _signature(embedder, table: dict[str, tuple[str, ...]]) -> str:
    crc = _CRC.get(id(table))
    if crc is None:
        crc = _CRC[id(table)] = zlib.crc32(chr(10).join(
            t for ts in table.values() for t in ts).encode())
    return f"{getattr(embedder, 'model_id', type(embedder).__name__)}:{embedder.dim}:{crc}"


def matrix(embedder, table: dict[str, tuple[str, ...]], name: str, *, store=None,
           compute: bool = True) -> tuple[list[str], object] | None:
    """(attribute of each row, the normalised prototype vectors) of ``table``, embedded once per
    process; with ``store``, read from the store's meta table when digest kept them there
    (``remember``). ``compute=False``: None rather than embedding them here (a one-shot search
    must not embed ~60 sentences: ~0.15 s)."""
    import numpy as np

    sig = _signature(embedder, table)
    if sig in _CACHE:
        return _CACHE[sig]
    names = [a for a, texts in table.items() for _ in texts]
    raw = store.get_meta(META_KEY + name) if store is not None else None
    if raw and raw.startswith(sig + "|"):
        vecs = np.frombuffer(base64.b64decode(raw[len(sig) + 1:]), dtype=np.float32)
        _CACHE[sig] = (names, vecs.reshape(len(names), -1))
        return _CACHE[sig]
    if not compute:
        return None
    vecs = np.asarray(embedder.embed([t for ts in table.values() for t in ts]), dtype=np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    _CACHE[sig] = (names, vecs)
    return _CACHE[sig]


def remember(store, embedder, table: dict[str, tuple[str, ...]], name: str) -> None:
    """Keep ``table``'s prototype vectors in the store's meta table (digest calls it, inside a
    write transaction) so a search can read them instead of embedding them; nothing to do (no
    embedding) when the store already holds them for this embedder."""
    import numpy as np

    sig = _signature(embedder, table)
    if (store.get_meta(META_KEY + name) or "").startswith(sig + "|"):
        return
    _, vecs = matrix(embedder, table, name)
    store.set_meta(META_KEY + name, sig + "|" + base64.b64encode(
        np.ascontiguousarray(vecs, np.float32).tobytes()).decode())


def _prototypes(embedder, store=None, compute: bool = True):
    return matrix(embedder, PROTOTYPES, "statements", store=store, compute=compute)


def similarities(embedder, vector, store=None) -> dict[str, float]:
    """Attribute → cosine of ``vector`` to that attribute's nearest prototype."""
    return best_per_attribute(*_prototypes(embedder, store), vector)


def best_per_attribute(names: list[str], protos, vector) -> dict[str, float]:
    """Attribute → cosine of ``vector`` to its nearest row of ``protos`` (``matrix``'s pair)."""
    import numpy as np

    v = np.asarray(vector, dtype=np.float32)
    v = v / max(float(np.linalg.norm(v)), 1e-12)
    best: dict[str, float] = {}
    for a, s in zip(names, (protos @ v).tolist()):
        best[a] = max(best.get(a, -1.0), s)
    return best


def nearest(embedder, vector) -> tuple[str | None, float, float]:
    """(attribute, cosine to its nearest prototype, margin over the next attribute)."""
    ranked = sorted(similarities(embedder, vector).items(), key=lambda kv: -kv[1])
    if not ranked:
        return None, 0.0, 0.0
    second = ranked[1][1] if len(ranked) > 1 else -1.0
    return ranked[0][0], ranked[0][1], ranked[0][1] - second


def centroid(embedder, attribute: str, store=None):
    """The normalised mean of ``attribute``'s prototype vectors (a search for its statements)."""
    import numpy as np

    names, protos = _prototypes(embedder, store)
    rows = [k for k, a in enumerate(names) if a == attribute]
    if not rows:
        return None
    c = protos[rows].mean(axis=0)
    return (c / max(float(np.linalg.norm(c)), 1e-12)).astype(np.float32)
