"""Append-only schema migrations, applied with sqlite_utils.Migrations. Never edit one that has
shipped: add ``@migration``-decorated ``m00N_what(db)`` functions at the end.

sqlite_utils is imported only when a migration is pending, so one-shot commands on an up-to-date
database don't pay for it.
"""

from __future__ import annotations

SET = "memcli"
STEPS: list = []


def migration(fn):
    STEPS.append(fn)
    return fn


def pending(conn) -> list[str]:
    """Names of migrations not yet applied (plain SQL; no sqlite_utils import)."""
    names = [fn.__name__ for fn in STEPS]
    try:
        done = {r[0] for r in conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", (SET,))}
    except Exception as exc:  # no table yet: a new database
        if "no such table" not in str(exc):
            raise
        return names
    return [n for n in names if n not in done]


def apply(conn) -> None:
    if not pending(conn):
        return
    import sqlite_utils

    migrations = sqlite_utils.Migrations(SET)
    for fn in STEPS:
        migrations()(fn)
    db = sqlite_utils.Database(conn)
    for attempt in range(len(STEPS) + 1):
        try:
            migrations.apply(db)
            return
        except Exception as exc:
            # Another process opening the same new memory applied this migration between our
            # look at what is pending and our write: ours rolled back; look again.
            if "UNIQUE constraint failed: _sqlite_migrations" not in str(exc) or \
                    attempt == len(STEPS):
                raise


def _run(db, script: str) -> None:
    """Run statements one by one (executescript would COMMIT the migration's transaction)."""
    for stmt in script.split(";"):
        if stmt.strip():
            db.execute(stmt)


@migration
def m001_core(db):
    _run(db, """
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE IF NOT EXISTS conversations (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            external_id TEXT NOT NULL,
            title TEXT,
            created_at TEXT,
            updated_at TEXT,
            path TEXT,
            meta TEXT,
            UNIQUE (source, external_id)
        );
        CREATE TABLE IF NOT EXISTS items (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            title TEXT,
            role TEXT,
            created_at TEXT NOT NULL,
            added_at TEXT NOT NULL,
            conversation_id INTEGER REFERENCES conversations(id) ON DELETE CASCADE,
            position INTEGER,
            source TEXT NOT NULL,
            external_id TEXT,
            path TEXT,
            heading TEXT,
            key TEXT UNIQUE,
            content_hash TEXT,
            importance REAL NOT NULL DEFAULT 0.5,
            access_count INTEGER NOT NULL DEFAULT 0,
            last_accessed TEXT,
            valid_from TEXT,
            valid_to TEXT,
            superseded_by INTEGER REFERENCES items(id) ON DELETE SET NULL,
            meta TEXT
        );
        CREATE INDEX IF NOT EXISTS items_conversation ON items (conversation_id, position);
        CREATE INDEX IF NOT EXISTS items_kind_created ON items (kind, created_at);
        CREATE INDEX IF NOT EXISTS items_created ON items (created_at);
        CREATE INDEX IF NOT EXISTS items_hash ON items (content_hash);
        CREATE TABLE IF NOT EXISTS item_tags (
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (item_id, tag)
        );
        CREATE INDEX IF NOT EXISTS item_tags_tag ON item_tags (tag);
        CREATE TABLE IF NOT EXISTS links (
            src_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            dst_id INTEGER REFERENCES items(id) ON DELETE CASCADE,
            target TEXT NOT NULL DEFAULT '',
            type TEXT NOT NULL DEFAULT 'related',
            reason TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (src_id, target, type)
        );
        CREATE INDEX IF NOT EXISTS links_dst ON links (dst_id);
        CREATE TABLE IF NOT EXISTS item_sources (
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            source_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            PRIMARY KEY (item_id, source_id)
        );
        CREATE INDEX IF NOT EXISTS item_sources_source ON item_sources (source_id);
        CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5(
            title, text, tags, tokenize = 'porter unicode61 remove_diacritics 2'
        );
        """)


@migration
def m002_digest(db):
    """What `digest` has processed (resumable, incremental) and how derived notes changed."""
    _run(db, """
        CREATE TABLE IF NOT EXISTS digest_state (
            scope TEXT NOT NULL,
            ref_id INTEGER NOT NULL,
            upto INTEGER NOT NULL DEFAULT -1,
            mode TEXT,
            digested_at TEXT NOT NULL,
            PRIMARY KEY (scope, ref_id)
        );
        CREATE TABLE IF NOT EXISTS note_history (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            changed_at TEXT NOT NULL,
            field TEXT NOT NULL,
            old_value TEXT,
            new_value TEXT,
            reason TEXT
        );
        CREATE INDEX IF NOT EXISTS note_history_item ON note_history (item_id)
        """)


@migration
def m003_coarse_vectors(db):
    """The coarse vector index (vecindex.py): sign bits in chunks of 256 items, and a
    float16 copy of each vector for re-scoring. A memory indexed before this migration gets both
    derived from its float vectors here, once."""
    _run(db, """
        CREATE TABLE IF NOT EXISTS vec_bits (chunk INTEGER PRIMARY KEY, bits BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS vec_f16 (item_id INTEGER PRIMARY KEY, embedding BLOB NOT NULL)
        """)
    if db.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'items_vec'").fetchone():
        _backfill_coarse(db.conn)


def _backfill_coarse(conn) -> None:
    import numpy as np

    from memcli.store.vectors import VEC_TABLE, coarse_put

    batch = []
    for item_id, blob in conn.execute(f"SELECT item_id, embedding FROM {VEC_TABLE}"):
        batch.append((item_id, np.frombuffer(blob, dtype=np.float32)))
        if len(batch) >= 4096:
            coarse_put(conn, batch)
            batch = []
    coarse_put(conn, batch)


@migration
def m004_secure_delete(db):
    """FTS5 deletes remove a row's tokens from the index at once instead of leaving them in old
    segments until a merge (forget means gone; SQLite's own secure_delete is set per connection
    in connection.py)."""
    db.execute("INSERT INTO items_fts(items_fts, rank) VALUES ('secure-delete', 1)")


GRAMS_TABLE = "items_grams"


@migration
def m005_grams(db):
    """The gram index of unsegmented scripts (memcli/core/scripts.py): a contentless FTS5 table,
    rowid = item id, holding rows only for items with such text; filled here for a memory that
    existed before it."""
    db.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {GRAMS_TABLE} USING fts5(grams, content='', "
        "contentless_delete=1, tokenize = \"unicode61 categories 'L* N* M* Co'\")")
    db.execute(f"INSERT INTO {GRAMS_TABLE}({GRAMS_TABLE}, rank) VALUES ('secure-delete', 1)")
    from memcli.core.scripts import item_grams

    last = 0
    while True:
        rows = db.conn.execute(
            "SELECT id, title, text, (SELECT group_concat(tag, ' ') FROM item_tags "
            "WHERE item_id = items.id) FROM items WHERE id > ? ORDER BY id LIMIT 2000",
            (last,)).fetchall()
        if not rows:
            return
        db.conn.executemany(f"INSERT INTO {GRAMS_TABLE}(rowid, grams) VALUES (?, ?)",
                            [(r[0], g) for r in rows if (g := item_grams(r[1], r[2], r[3]))])
        last = rows[-1][0]


@migration
def m006_superseded_index(db):
    """Ranking asks which facts a found fact superseded (store/digest_state.supersessions_near):
    a partial index over the few superseded rows keeps that a lookup, not a scan."""
    db.execute("CREATE INDEX IF NOT EXISTS items_superseded_by ON items (superseded_by) "
               "WHERE superseded_by IS NOT NULL")


@migration
def m007_fact_attribute_index(db):
    """A question placed in an attribute reads that attribute's facts (store/digest_state
    facts_with_attribute), and the digest reads the current ones for each fact it places: partial
    indexes on the attribute, the weaker topic and the few facts with several attributes keep
    those lookups instead of a JSON scan of every fact (0.56 s at 300,000 facts)."""
    for name, expr in (("items_fact_attribute", "json_extract(meta, '$.attribute')"),
                       ("items_fact_topic", "json_extract(meta, '$.topic')"),
                       ("items_fact_attributes", "json_array_length(meta, '$.attributes')")):
        db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON items ({expr}) WHERE kind = 'fact'")
