"""`memcli import memcli OTHER.db`: two homes that share history and each added different items
merge to the union; a second merge adds 0; derived notes are derived again, not copied."""

import json
import shutil
from pathlib import Path

import pytest


def in_home(cli, home: Path):
    def run(*args):
        code, out, err = cli("--home", home, *args)
        assert code == 0, err
        return out
    return run


def chat_line(conv: str, title: str, messages: list[tuple[str, str]]) -> str:
    return json.dumps({"id": conv, "title": title, "messages": [
        {"id": mid, "role": "user", "content": text, "created_at": "2024-05-01T10:00:00Z"}
        for mid, text in messages]})


def verbatim(run) -> dict:
    """key-or-text → (kind, source, text) of every verbatim item, through the JSON contract."""
    hits = json.loads(run("search", "the", "--json", "-n", "500"))
    return sorted((h["kind"], h["source"]["type"], h["text"], h["source"]["conversation_id"],
                   h["source"]["message_id"]) for h in hits
                  if h["kind"] in ("message", "note", "section"))


@pytest.fixture
def two_homes(cli, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run_a = in_home(cli, a)
    shared = tmp_path / "shared.jsonl"
    shared.write_text(chat_line("trip", "Trip", [("m1", "the flight to Porto is on May 2nd"),
                                                 ("m2", "the hotel is near the river")]) + "\n")
    run_a("import", "jsonl", shared, "--no-digest")
    run_a("add", "the spare key is under the blue flowerpot", "--tag", "home")
    (tmp_path / "vault").mkdir()
    (tmp_path / "vault" / "Recipes.md").write_text("# Recipes\n\nthe pesto needs basil and "
                                                   "garlic\n")
    run_a("import", "markdown", tmp_path / "vault", "--no-digest")
    shutil.copytree(a, b)  # the second device restored the same memory
    run_b = in_home(cli, b)
    # each device writes something of its own since
    run_a("add", "the dentist moved to Friday 3pm")
    more_a = tmp_path / "more_a.jsonl"
    more_a.write_text(chat_line("trip", "Trip", [("m1", "the flight to Porto is on May 2nd"),
                                                 ("m2", "the hotel is near the river"),
                                                 ("m3", "the car rental is at the airport")])
                      + "\n")
    run_a("import", "jsonl", more_a, "--no-digest")
    run_b("add", "the gym closes at 9pm on Sundays")
    more_b = tmp_path / "more_b.jsonl"
    more_b.write_text(chat_line("work", "Work", [("w1", "I work at the Acme studio as a designer "
                                                            "and the review is due on Thursday")]) + "\n")
    run_b("import", "jsonl", more_b, "--no-digest")
    run_b("digest", "--no-llm")  # derived notes on b: re-derived on a, never copied
    return run_a, run_b, a, b


def test_merge_gives_the_union_and_a_second_merge_adds_nothing(two_homes):
    run_a, run_b, a, b = two_homes
    before_a, items_b = verbatim(run_a), verbatim(run_b)
    derived_a = {k: v for k, v in json.loads(run_a("stats", "--json"))["by_kind"].items()
                 if k not in ("message", "note", "section")}
    derived_b = set(json.loads(run_b("stats", "--json"))["by_kind"]) - {"message", "note"}
    assert derived_b  # b digested: facts/summaries that must not be copied
    union = sorted(set(before_a) | set(items_b))
    assert len(union) > len(before_a) and len(union) > len(items_b)

    dry = json.loads(run_a("import", "memcli", b / "memcli.db", "--json", "--dry-run"))
    assert dry["added"] == 2 and verbatim(run_a) == before_a
    out = json.loads(run_a("import", "memcli", b / "memcli.db", "--json", "--no-digest"))
    assert out["added"] == 2  # b's note and b's work message; the shared history is skipped
    assert verbatim(run_a) == union
    stats = json.loads(run_a("stats", "--json"))
    assert stats["conversations"] == 2 and stats["messages"] == 4
    assert {k: v for k, v in stats["by_kind"].items()
            if k not in ("message", "note", "section")} == derived_a  # b's were not copied

    again = json.loads(run_a("import", "memcli", b / "memcli.db", "--json", "--no-digest"))
    assert again["added"] == 0 and again["skipped"] == out["added"] + out["skipped"]
    assert json.loads(run_a("stats", "--json"))["items"] == stats["items"]
    # provenance survived: the merged message cites its conversation and message id
    hit = json.loads(run_a("search", "review due Thursday", "--json", "-n", "1"))[0]
    assert hit["source"] == {**hit["source"], "type": "jsonl", "conversation_id": "work",
                             "message_id": "w1"}
    md = json.loads(run_a("search", "pesto basil", "--json", "-n", "1"))[0]
    assert md["source"]["path"] == "Recipes.md"
    run_a("doctor")


def test_merging_the_other_way_also_converges(two_homes):
    run_a, run_b, a, b = two_homes
    run_a("import", "memcli", b / "memcli.db", "--no-digest")
    run_b("import", "memcli", a / "memcli.db", "--no-digest")
    assert verbatim(run_a) == verbatim(run_b)
    out = json.loads(run_a("import", "memcli", b / "memcli.db", "--json", "--no-digest"))
    assert out["added"] == 0


def test_merge_leaves_the_other_file_untouched(two_homes):
    run_a, run_b, a, b = two_homes
    before = (b / "memcli.db").read_bytes()
    run_a("import", "memcli", b / "memcli.db", "--no-digest")
    assert (b / "memcli.db").read_bytes() == before


def test_merge_of_a_non_memory_is_one_error_line(cli, tmp_path):
    bad = tmp_path / "x.db"
    bad.write_text("not a database at all" * 10)
    code, out, err = cli("import", "memcli", bad)
    assert code == 1 and err.startswith("Error: ") and len(err.strip().splitlines()) == 1
