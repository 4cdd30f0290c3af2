"""The capable-model update decision end to end (issue 14): `digest` over the OpenAI-compatible
backend against a real `python -m llama_cpp.server` on loopback, the bundled SmolLM2 GGUF standing
in for a capable model. A recording proxy sits between memcli and the server (it answers
the note and summary prompts itself with nothing, so those fall back to the rules), so the test asserts
on what the server received (the candidate pair, dated, and the schema's three choices) and on
what digest recorded: valid_to / superseded_by only when the validated verdict says "update"; an
answer outside the schema (the proxy garbles it) leaves the rule's verdict."""

import json
from http.server import BaseHTTPRequestHandler

import pytest
from conftest import llama_server, send_json, serve_loopback

from memcli.backends.openai import OpenAILLM
from memcli.services.digest.llmio import capable
from memcli.services.digest.pipeline import digest
from tests.test_digest import add_conversation, facts

pytestmark = pytest.mark.integration

ALIAS = "capable-stand-in"
ASKS_UPDATE = "updates an older one"  # prompts/digest_update.md's system line


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    with llama_server(tmp_path_factory.mktemp("server"), n_ctx=2048, alias=ALIAS) as base:
        yield base


@pytest.fixture
def proxy(upstream):
    """A loopback proxy that records (request body, reply content) for every call; for the update
    prompt it may replace the server's reply: ``state["rewrite"]`` = None (pass it on) or the
    content to send instead. Yields (base url, records, state)."""
    import httpx

    seen: list[tuple[dict, str]] = []
    state: dict = {"rewrite": None}

    class Relay(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw)
            fmt = (body.get("response_format") or {}).get("type")
            if ASKS_UPDATE not in body["messages"][0]["content"] and fmt != "json_schema":
                # notes and summaries are not under test: the proxy answers them with nothing
                # (so digest's rules write them) instead of waiting on slow CPU generations; the
                # server still answers the json_schema probe, so the backend learns its real style
                seen.append((body, ""))
                out = json.dumps({"choices": [{"message": {"role": "assistant",
                                                           "content": ""}}]}).encode()
                send_json(self, 200, out)
                return
            resp = httpx.post(upstream + self.path, content=raw, timeout=300,
                              headers={"Content-Type": "application/json"})
            out = resp.content
            content = ""
            if resp.status_code == 200:
                reply = resp.json()
                content = reply["choices"][0]["message"].get("content") or ""
                if ASKS_UPDATE in body["messages"][0]["content"] and state["rewrite"] is not None:
                    content = state["rewrite"]
                    reply["choices"][0]["message"]["content"] = content
                    out = json.dumps(reply).encode()
            seen.append((body, content))
            send_json(self, resp.status_code, out)

        def log_message(self, *args):
            pass

    with serve_loopback(Relay) as base:
        yield base + "/v1", seen, state


def _history(mem):
    add_conversation(mem, "a", [("user", "I live in Lyon with my partner Paul.")], day="2024-01-05")
    add_conversation(mem, "b", [("user", "I went to a concert in Paris with Ana.")],
                     day="2024-02-05")
    add_conversation(mem, "c", [("user", "I went to a concert in Rome with Ana.")],
                     day="2024-03-05")
    add_conversation(mem, "d", [("user", "We finally moved to Grenoble last month.")],
                     day="2024-06-05")


def _one(mem, word):
    [f] = [f for f in facts(mem) if word in f["text"]]
    return f


def _update_calls(seen):
    return [(b, c) for b, c in seen if ASKS_UPDATE in b["messages"][0]["content"]]


def _pair_of(body):
    user = body["messages"][-1]["content"]
    old = user.split("Older note (", 1)[1].split("\n", 1)[0]
    new = user.split("Newer note (", 1)[1].split("\n", 1)[0]
    return old, new


def _verdict(content):
    try:
        value = json.loads(content)
    except ValueError:
        return None
    ok = isinstance(value, dict) and value.get("relation") in ("update", "both_true", "unrelated")
    return value["relation"] if ok else None


def _run(make_memory, base, seen, state, rewrite):
    state["rewrite"] = rewrite
    seen.clear()
    mem = make_memory()
    _history(mem)
    llm = OpenAILLM(base, ALIAS)
    assert capable(mem, llm)
    report = digest(mem, llm=llm)  # a capable model: it judges the update candidates itself
    return mem, report, _update_calls(seen)


def _check_prompts(calls):
    """What the server was asked: each candidate pair dated, older first, under the schema."""
    pairs = {_pair_of(b) for b, _ in calls}
    assert any(
        "Lyon" in o and "2024-01-05" in o and "Grenoble" in n and "2024-06-05" in n
        for o, n in pairs), pairs
    assert any("Paris" in o and "Rome" in n for o, n in pairs), pairs  # near neighbours asked too
    for body, _ in calls:
        system = body["messages"][0]["content"]
        for choice in ('"update"', '"both_true"', '"unrelated"'):
            assert choice in system
        fmt = body["response_format"]
        schema = fmt.get("schema") or fmt["json_schema"]["schema"]
        assert schema["properties"]["relation"]["enum"] == ["update", "both_true", "unrelated"]
        assert body["model"] == ALIAS and body["max_tokens"] == 60
    return pairs


def test_server_verdicts_are_recorded_only_when_valid(make_memory, proxy):
    base, seen, state = proxy
    mem, report, calls = _run(make_memory, base, seen, state, None)
    assert report.mode == "llm" and calls
    _check_prompts(calls)
    lyon, grenoble = _one(mem, "Lyon"), _one(mem, "Grenoble")
    verdicts = {("Lyon" in _pair_of(b)[0] and "Grenoble" in _pair_of(b)[1]): _verdict(c)
                for b, c in calls}
    said = verdicts.get(True)
    # the rule's verdict for Lyon → Grenoble is "update": it stands unless a valid answer differs
    closed = said in (None, "update")
    assert (lyon["superseded_by"] == grenoble["id"]) is closed
    assert (lyon["valid_to"] == grenoble["created_at"]) is closed
    assert grenoble["valid_to"] is None
    for word in ("Paris", "Rome"):  # closed only if the model validly said "update" about them
        f = _one(mem, word)
        concert = [_verdict(c) for b, c in calls if "Paris" in _pair_of(b)[0]
                   and "Rome" in _pair_of(b)[1]]
        assert (f["valid_to"] is not None) is (word == "Paris" and "update" in concert)


@pytest.mark.parametrize("rewrite, lyon_closed, paris_closed", [
    ('{"relation": "unrelated", "reason": "different things"}', False, False),
    ('{"relation": "update", "reason": "a new value"}', True, True),
    ('{"relation": "maybe", "reason": "not a choice"}', True, False),  # outside the schema
    ("Sure! I think the newer note updates it.", True, False),  # not JSON at all
])
def test_validated_verdict_decides_and_garbage_keeps_the_rule(make_memory, proxy, rewrite,
                                                             lyon_closed, paris_closed):
    base, seen, state = proxy
    mem, report, calls = _run(make_memory, base, seen, state, rewrite)
    _check_prompts(calls)
    lyon, grenoble, paris = _one(mem, "Lyon"), _one(mem, "Grenoble"), _one(mem, "Paris")
    assert (lyon["superseded_by"] == grenoble["id"]) is lyon_closed
    assert (lyon["valid_to"] is not None) is lyon_closed
    assert (paris["valid_to"] is not None) is paris_closed
    assert _one(mem, "Rome")["valid_to"] is None and grenoble["valid_to"] is None
    if lyon_closed:
        shown = mem.show(lyon["id"])
        assert any(h["field"] == "valid_to" for h in shown["history"])
        assert any(b["type"] == "supersedes" for b in shown["backlinks"])
    if _verdict(rewrite) is None:
        assert report.llm.rejected >= len(calls)
