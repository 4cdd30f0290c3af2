"""The only package that speaks SQL.

Tables (see migrations.py): ``items`` (verbatim and derived text), ``conversations``, ``item_tags``,
``links``, ``item_sources`` (derived → the items it rests on), ``note_history``, ``digest_state``,
``items_fts`` (FTS5, rowid = item id), ``items_grams`` (contentless FTS5 of the character pairs of
CJK and other unsegmented text, core/scripts.py), ``items_vec`` (sqlite-vec vec0, rowid = item id,
created once the embedding model is known) and the coarse vector index beside it (``vec_bits``, ``vec_f16``).

``Store`` (database.py) holds the connection and transactions; its methods come one module per
concern: items.py, conversations.py, links.py, digest_state.py, vectors.py, health.py. sql.py has
what they share; connection.py opens the file, migrations.py builds the schema, vecindex.py is the
coarse index's arithmetic (no SQL).
"""

from memcli.store.database import Store
from memcli.store.health import verify_copy
from memcli.store.items import content_hash
from memcli.store.vectors import VEC_TABLE

__all__ = ["VEC_TABLE", "Store", "content_hash", "verify_copy"]
