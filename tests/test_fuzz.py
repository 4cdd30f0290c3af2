"""Property-based fuzzing of the query path: arbitrary text as a query, a date, an id or a note
gives results or one clear line on stderr, never a traceback and never a changed database."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from memcli.backends.fakes import HashEmbedder
from memcli.core.errors import MemcliError
from memcli.core.models import clean_text
from memcli.core.timeutil import normalize, parse_user_date
from memcli.retrieval.hybrid import fts_query
from memcli.services.memory import Memory
from memcli.store import connection as dbmod

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Text with everything that bites: FTS5 syntax, quotes, unicode, controls, lone surrogates.
nasty = st.text(alphabet=st.one_of(
    st.sampled_from(list('"\'*^:()[]{}-+NEARORANDNOT .,;!?\\/%_\t\n\x00')),
    st.characters(codec=None, exclude_categories=()),
), max_size=80)
words = st.lists(st.sampled_from(["NEAR", "AND", "OR", "NOT", "*", "\"", "(", ")", "^", ":",
                                  "title:", "NEAR(", "a", "what's", "c++", "ü"]), max_size=12
                 ).map(" ".join)


@pytest.fixture(scope="module")
def fts_conn():
    conn = dbmod.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(title, text, tags, "
                 "tokenize = 'porter unicode61 remove_diacritics 2')")
    conn.execute("INSERT INTO t VALUES ('x', 'what is up with c++ and ü', '')")
    return conn


@FAST
@given(q=st.one_of(nasty, words))
def test_fts_query_is_always_valid_fts5(fts_conn, q):
    expr = fts_query(clean_text(q))
    if expr:
        fts_conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (expr,)).fetchall()


@pytest.fixture(scope="module")
def shared_mem(tmp_path_factory):
    m = Memory(tmp_path_factory.mktemp("fuzz"), embedder=HashEmbedder())
    m.remember("the spare key is under the flowerpot", tags=["house"])
    m.remember("what's the c++ NEAR operator", created_at="2021-05-01")
    yield m
    m.close()


def _fingerprint(m):
    c = m.store.conn
    return tuple(c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                 for t in ("items", "items_fts", "items_vec", "item_tags", "conversations"))


@FAST
@given(q=st.one_of(nasty, words), n=st.integers(-5, 5000))
def test_search_library_never_crashes(shared_mem, q, n):
    before = _fingerprint(shared_mem)
    try:
        hits = shared_mem.search(q, limit=n)
    except MemcliError:
        return
    assert len(hits) <= max(n, 0)
    assert _fingerprint(shared_mem) == before


dates = st.one_of(
    nasty,
    st.sampled_from(["last month", "yesterday", "2024-02-30", "0000-00-00", "9999-12-31",
                     "10000000 years ago", "-1", "1e309", "99999999999999999999", "2024-13-01",
                     "2021-05-01T25:61:61Z", "in 3 days", "never", "", " ", "T", "Z",
                     "2024-05-01T10:00:00+99:00", "1.5 weeks ago", "\x00", "\udcff"]),
    st.datetimes().map(lambda d: d.isoformat()),
    st.integers().map(str),
)


@settings(FAST, max_examples=30)
@given(text=dates)
def test_date_parsing_gives_a_date_or_one_clear_error(text):
    try:
        dt = parse_user_date(text, what="--since date")
    except MemcliError as exc:
        assert "\n" not in str(exc)
        return
    assert dt.tzinfo is not None
    try:
        normalize(text)
    except MemcliError:
        pass


@settings(FAST, max_examples=30)
@given(since=dates, as_of=dates)
def test_search_filters_from_arbitrary_dates(shared_mem, since, as_of):
    try:
        now = shared_mem.resolve_now(as_of or None)
        f = shared_mem.make_filters(since=since or None, now=now)
        shared_mem.search("key", filters=f, now=now)
    except MemcliError as exc:
        assert "\n" not in str(exc)


@FAST
@given(text=st.one_of(nasty, st.text(max_size=3000)), title=st.one_of(st.none(), nasty),
       tags=st.lists(nasty, max_size=4))
def test_remember_stores_or_refuses_cleanly(shared_mem, text, title, tags):
    before = _fingerprint(shared_mem)
    try:
        item_id = shared_mem.remember(text, title=title, tags=tags)
    except MemcliError as exc:
        assert "\n" not in str(exc)
        assert _fingerprint(shared_mem) == before
        return
    shown = shared_mem.show(item_id)
    assert shown["text"] == clean_text(text).strip()
    shown["text"].encode("utf-8")  # storable, printable text: no lone surrogates


# ---- the real CLI, with argv bytes that are not UTF-8 ----------------------------------------
SCRIPT = Path(sys.executable).with_name("memcli")
MEMCLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-c",
                                                 "from memcli.main import run; run()"]


def _run(home, *args, input=None):
    env = dict(os.environ, MEMCLI_HOME=str(home))
    return subprocess.run([*MEMCLI, *args], input=input, env=env, capture_output=True,
                          timeout=120)


def _one_line_or_ok(proc):
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    if proc.returncode:
        assert proc.returncode in (1, 2), err  # 2: a usage error from the argument parser
        if proc.returncode == 1:
            assert err.startswith("Error: ") and len(err.strip().splitlines()) == 1, err


BAD_ARGS = [
    [b"add", b"bad \xff\xfe bytes in argv"],
    [b"add", b"--title", b"\xc3\x28", b"body"],
    [b"add", b"x", b"--tag", b"\xff"],
    [b"add", b"x", b"--date", b"\xff yesterday"],
    [b"search", b"\xff\xfe"],
    [b"search", b"key", b"--tag", b"\xed\xa0\x80"],
    [b"search", b"key", b"--since", b"\xff"],
    [b"search", b"key", b"--as-of", b"99999999999999999999"],
    [b"search", b"key", b"-n", b"99999999999999999999"],
    [b"search", b"key", b"-n", b"0"],
    [b"search", b"--", b"-n"],
    [b"search", b'"NEAR(( AND *'],
    [b"show", b"99999999999999999999999999"],
    [b"show", b"-1"],
    [b"show", b"\xff"],
    [b"forget", b"18446744073709551616"],
]


def test_cli_with_undecodable_and_absurd_arguments(home, cli):
    """In-process with argv decoded as Python decodes it (surrogateescape), then a few through
    the real executable."""
    assert cli("add", "a first note about keys")[0] == 0
    for args in BAD_ARGS:
        try:
            code, out, err = cli(*[os.fsdecode(a) for a in args])
        except Exception as exc:  # the fixture re-raises what would be a traceback
            raise AssertionError(f"{args}: {exc!r}") from exc
        if code == 1:
            assert err.startswith("Error: ") and len(err.strip().splitlines()) == 1, (args, err)
        else:
            assert code in (0, 2), (args, code, err)
    for args in BAD_ARGS[:3] + BAD_ARGS[-4:-2]:
        _one_line_or_ok(_run(home, *args))
    proc = _run(home, "add", "-", input=b"stdin \xff\xfe with \x00 NUL and bad bytes")
    _one_line_or_ok(proc)
    assert proc.returncode == 1 and b"line 1, column 7" in proc.stderr  # refused, saying where
    proc = _run(home, "add", "--lossy", "-", input=b"stdin \xff\xfe with \x00 NUL and bad bytes")
    _one_line_or_ok(proc)
    assert proc.returncode == 0
    proc = _run(home, "search", "with NUL bad bytes", "--json")
    assert proc.returncode == 0 and b"stdin" in proc.stdout
