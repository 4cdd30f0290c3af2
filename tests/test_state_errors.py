"""Bad state gets one `Error:` line naming the file and what to do, and leaves the memory as it
was: --home naming a file, usage errors, `memcli chat` without a terminal, a read-only database
or -wal/-shm (real permissions: as root the test drops CAP_DAC_OVERRIDE with setpriv), a damaged
file (writes refused, `memcli backup --salvage`), a file that is not a database, and the
unclean-shutdown check."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

MEMCLI = [sys.executable, "-m", "memcli"]
UNPRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def run(home, *args, privileged=True, input=None):
    env = {**os.environ, "MEMCLI_HOME": str(home)}
    prefix = [] if privileged or os.geteuid() != 0 else UNPRIVILEGED
    return subprocess.run([*prefix, *MEMCLI, *map(str, args)], env=env, input=input,
                          capture_output=True, text=True, timeout=120)


def one_error_line(res, code=1, *needles):
    lines = res.stderr.strip().splitlines()
    assert res.returncode == code, (res.returncode, res.stderr)
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def stats(home):
    res = run(home, "stats", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    data.pop("size_bytes", None)
    return data


def file_bytes(home):
    return {p.name: p.read_bytes() for p in Path(home).iterdir()  # an empty -wal holds nothing
            if p.name.startswith("memcli.db") and not p.name.endswith("-shm")
            and p.stat().st_size}


@pytest.fixture
def filled(home, cli):
    for text in ("my passport is in the left drawer", "the bike lock code is 4711"):
        assert cli("add", text)[0] == 0
    return home


def needs_real_permissions():
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("root without setpriv: permissions do not apply")


# ---- arguments and the terminal -------------------------------------------------------------------
def test_home_naming_a_file_is_one_line(tmp_path, cli):
    f = tmp_path / "notes.txt"
    f.write_text("not a directory")
    res = run(f, "stats")
    one_error_line(res, 1, str(f), "not a directory")
    assert f.read_text() == "not a directory"
    code, _, err = cli("--home", f, "add", "x")
    assert code == 1 and err.count("\n") == 1 and "is a file" in err


def test_home_naming_the_database_file_suggests_its_directory(filled):
    res = run(filled / "memcli.db", "stats")
    one_error_line(res, 1, f"did you mean --home {filled}")


@pytest.mark.parametrize("args,needle", [
    (["search"], "Missing argument"),
    (["--bogus", "stats"], "No such option: --bogus"),
    (["serch", "x"], "No such command 'serch'. Did you mean 'search'?"),
    (["search", "x", "-n", "many"], "Invalid value for '-n'"),
    (["show"], "Missing argument"),
])
def test_usage_errors_are_one_line_with_exit_2(filled, cli, args, needle):
    before = stats(filled)
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], err
    assert "--help" in lines[0]
    assert stats(filled) == before


def test_help_and_bare_memcli_still_show_the_help(cli):
    code, out, _ = cli("--help")
    assert code == 0 and "Usage" in out and "search" in out


def test_chat_without_a_terminal_says_it_needs_one(filled):
    before = stats(filled)
    res = run(filled, "chat", input="hello\n")
    one_error_line(res, 1, "needs a terminal")
    assert res.stdout == "" and "\x1b[" not in res.stdout
    assert stats(filled) == before


# ---- permissions ----------------------------------------------------------------------------------
def test_read_only_database_is_named_with_the_fix(filled):
    needs_real_permissions()
    before = stats(filled)
    db = filled / "memcli.db"
    os.chmod(db, 0o400)
    try:
        snapshot = file_bytes(filled)
        res = run(filled, "add", "a new note", privileged=False)
        one_error_line(res, 1, str(db), "read-only", "chmod 600")
        res = run(filled, "doctor", privileged=False)
        assert res.returncode == 1
        assert "full-text" not in res.stdout and "integrity" not in res.stdout, res.stdout
        assert f"{db} (mode 0400)" in res.stdout and "read-only" in res.stdout
        assert file_bytes(filled) == snapshot
    finally:
        os.chmod(db, 0o600)
    assert stats(filled) == before


def test_a_read_only_shm_left_behind_is_named(filled):
    needs_real_permissions()
    db = filled / "memcli.db"
    os.chmod(db, 0o400)
    assert run(filled, "stats", privileged=False).returncode == 0  # SQLite makes a 0400 -shm
    os.chmod(db, 0o600)
    shm = filled / "memcli.db-shm"
    assert shm.exists() and shm.stat().st_mode & 0o777 == 0o400
    before = {k: v for k, v in file_bytes(filled).items()}
    res = run(filled, "add", "a new note", privileged=False)
    line = one_error_line(res, 1, str(shm), "read-only", "chmod 600")
    assert file_bytes(filled) == before, line
    for p in filled.iterdir():
        os.chmod(p, 0o600)
    assert run(filled, "add", "now it works", privileged=False).returncode == 0


# ---- damage ---------------------------------------------------------------------------------------
def damage_page_holding(db: Path, needle: bytes) -> None:
    """Overwrite every page that holds ``needle`` (the items row, its full-text copy) with
    garbage."""
    data = db.read_bytes()
    page_size = int.from_bytes(data[16:18], "big")
    at = data.find(needle)
    assert at >= 0
    with open(db, "r+b") as f:
        while at >= 0:
            f.seek(at // page_size * page_size)
            f.write(b"\xff\x00" * (page_size // 2))
            at = data.find(needle, at + 1)


def big_memory(home, n=400):
    lines = [json.dumps({"id": f"c{i}", "title": f"chat {i}", "messages": [
        {"role": "user", "content": f"message {i:04d} about apples and the long road home, "
                                    "with enough words to fill a few pages of the file"}]})
             for i in range(n)]
    src = home.parent / "chats.jsonl"
    src.write_text("\n".join(lines) + "\n")
    assert run(home, "import", "jsonl", src).returncode == 0


def test_damaged_file_refuses_writes_and_salvage_copies_what_is_readable(home, tmp_path):
    big_memory(home)
    db = home / "memcli.db"
    damage_page_holding(db, b"message 0200 about apples")
    res = run(home, "doctor")  # a report, or one line when even its checks cannot read the file
    told = res.stdout + res.stderr
    assert res.returncode == 1 and "is damaged" in told and "--salvage" in told, told
    snapshot = file_bytes(home)
    res = run(home, "add", "written into a broken file?")
    one_error_line(res, 1, str(db), "damaged", "backup --salvage", ".recover")
    assert file_bytes(home) == snapshot  # the marker file aside, nothing was written
    res = run(home, "backup", tmp_path / "plain.db")
    one_error_line(res, 1, "--salvage")
    rescued = tmp_path / "rescued"
    rescued.mkdir()
    res = run(home, "backup", "--salvage", rescued, "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert 300 <= info["items"] < 400 and info["damaged_reads"] >= 1
    assert run(rescued, "doctor", "--fix").returncode == 0
    hits = json.loads(run(rescued, "search", "message 0399 apples", "--json").stdout)
    assert "message 0399" in hits[0]["text"]
    assert run(rescued, "add", "life goes on").returncode == 0


def test_a_file_that_is_not_a_database(home):
    home.mkdir(parents=True)
    (home / "memcli.db").write_bytes(b"this is not sqlite at all" * 200)
    before = (home / "memcli.db").read_bytes()
    res = run(home, "stats")
    one_error_line(res, 1, str(home / "memcli.db"), "not a memcli database", "--salvage")
    assert (home / "memcli.db").read_bytes() == before


def test_unclean_shutdown_runs_a_quick_check_that_finds_damage(home, tmp_path):
    from memcli.store.state import unclean

    big_memory(home, 300)
    db = home / "memcli.db"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from memcli.store import Store\n"
        "s = Store(sys.argv[1])\n"
        "s.conn.execute(\"UPDATE items SET importance = 0.7\")\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"), str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert not unclean(db)  # a running writer holds the WAL: not a crash
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    time.sleep(0.1)
    assert unclean(db)  # killed: its WAL is left and nobody holds it
    damage_page_holding(db, b"message 0150 about apples")
    res = run(home, "add", "after the crash")
    one_error_line(res, 1, "damaged", ".recover")
    assert (home / "memcli.db-damaged").exists()


def test_a_good_file_moved_over_a_damaged_one_is_not_refused(filled, tmp_path):
    """The damage marker names the file it was left for: a restored or salvaged file that
    replaces it (a new inode) may be written at once."""
    from memcli.store.state import damage_marker, mark_damaged

    db = filled / "memcli.db"
    good = tmp_path / "good.db"
    assert run(filled, "backup", good).returncode == 0
    mark_damaged(db, "database disk image is malformed")
    one_error_line(run(filled, "add", "refused"), 1, "damaged")
    os.replace(good, db)
    assert run(filled, "add", "accepted").returncode == 0
    assert not damage_marker(db).exists()


def test_a_wal_owned_by_another_user_is_named(filled):
    needs_real_permissions()
    if os.geteuid() != 0:
        pytest.skip("making a file another user's needs root")
    db = filled / "memcli.db"
    os.chmod(db, 0o400)
    assert run(filled, "stats", privileged=False).returncode == 0  # leaves -wal and -shm
    os.chmod(db, 0o600)
    wal = filled / "memcli.db-wal"
    for p in (wal, filled / "memcli.db-shm"):
        os.chmod(p, 0o600)
    os.chown(wal, 65534, 65534)
    before = file_bytes(filled)
    res = run(filled, "add", "a new note", privileged=False)
    one_error_line(res, 1, str(wal), "another user", "chown")
    assert file_bytes(filled) == before


def test_bad_json_is_not_mistaken_for_damage(mem):
    """SQLite says "malformed JSON" for bad JSON text: a plain SQL error, not a damaged file."""
    from memcli.store.state import damage_marker, is_corruption

    try:
        mem.store.conn.execute("SELECT json_extract('{bad', '$.a')")
    except Exception as exc:
        assert not is_corruption(exc)
    else:
        pytest.fail("expected an error")
    assert not damage_marker(mem.db_path).exists()
