"""The capable model names each note's attribute (issue 14), end to end over the OpenAI-compatible
backend against a real `python -m llama_cpp.server` on loopback, the bundled SmolLM2 GGUF standing
in for a capable model. A recording proxy sits between memcli and the server: every request goes
on to the server (so the server must accept the capable notes schema and its attribute enum), but
the proxy answers the notes prompt with canned notes carrying attributes and the update prompt
with a fixed verdict, so what digest does with them is not at the mercy of SmolLM2. Asserted: the
notes prompt the server received is the capable one (it lists the attribute names) with the
attribute enum in its response_format, and the update prompt it received holds the pair the
model's attributes placed; the older fact is closed only on "update"."""

import json
import re
from http.server import BaseHTTPRequestHandler

import pytest
from conftest import llama_server, send_json, serve_loopback

from memcli.backends.openai import OpenAILLM
from memcli.retrieval.attribute_meaning import PROTOTYPES
from memcli.services.digest.llmio import capable
from memcli.services.digest.pipeline import digest
from tests.test_capable_notes import ASKS_NOTES, ASKS_UPDATE, FALCORA, NOTES, REDPINE
from tests.test_digest import add_conversation, facts

pytestmark = pytest.mark.integration

ALIAS = "capable-stand-in"
LINE = re.compile(r"^\[(\d+)\] [^:]+: (.*)$", re.M)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    with llama_server(tmp_path_factory.mktemp("server"), n_ctx=2048, alias=ALIAS) as base:
        yield base


def canned_notes(body: dict) -> str:
    notes = []
    for i, text in LINE.findall(body["messages"][-1]["content"]):
        if text in NOTES:
            note, attribute, value = NOTES[text]
            notes.append({"message": int(i), "text": note, "type": "fact", "keywords": [],
                          "context": "said in passing", "attribute": attribute, "value": value})
    return json.dumps({"notes": notes})


@pytest.fixture
def proxy(upstream):
    """Yields (base url, records, state): records are (request body as sent, server status,
    reply content given to memcli); ``state["verdict"]`` is the update prompt's answer."""
    import httpx

    seen: list[tuple[dict, int, str]] = []
    state: dict = {"verdict": "update"}

    class Relay(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            system = body["messages"][0]["content"]
            sent = dict(body)
            if ASKS_NOTES in system:  # the server compiles the schema; few tokens generated
                sent["max_tokens"] = 8
            resp = httpx.post(upstream + self.path, json=sent, timeout=300)
            out, content = resp.content, ""
            if resp.status_code == 200:
                reply = resp.json()
                content = reply["choices"][0]["message"].get("content") or ""
                if ASKS_NOTES in system:
                    content = canned_notes(body)
                elif ASKS_UPDATE in system:
                    content = json.dumps({"relation": state["verdict"], "reason": "canned"})
                else:
                    content = ""  # summaries are not under test: the extractive ones stand
                reply["choices"][0]["message"]["content"] = content
                out = json.dumps(reply).encode()
            seen.append((body, resp.status_code, content))
            send_json(self, resp.status_code, out)

        def log_message(self, *args):
            pass

    with serve_loopback(Relay) as base:
        yield base + "/v1", seen, state


def _schema(body):
    fmt = body["response_format"]
    return fmt.get("schema") or fmt["json_schema"]["schema"]


@pytest.mark.parametrize("verdict, closed", [("update", True), ("unrelated", False)])
def test_server_gets_the_capable_notes_prompt_and_the_placed_pair(make_memory, proxy, verdict,
                                                                  closed):
    base, seen, state = proxy
    state["verdict"] = verdict
    mem = make_memory()
    add_conversation(mem, "a", [("user", FALCORA)], day="2024-01-05")
    add_conversation(mem, "b", [("user", REDPINE)], day="2024-06-05")
    llm = OpenAILLM(base, ALIAS)
    assert capable(mem, llm)
    report = digest(mem, llm=llm)  # a capable model: capable notes prompt, it judges the pairs
    assert report.mode == "llm"

    notes = [(b, s) for b, s, _ in seen if ASKS_NOTES in b["messages"][0]["content"]]
    accepted = [b for b, s in notes if s == 200]
    assert len(accepted) == 2, [s for _, s in notes]  # the server took the schema, both times
    for body in accepted:
        system = body["messages"][0]["content"]
        assert all(name in system for name in PROTOTYPES)
        item = _schema(body)["properties"]["notes"]["items"]
        assert item["properties"]["attribute"]["enum"] == [*PROTOTYPES, "none"]
        assert "value" in item["properties"] and "attribute" not in item["required"]

    updates = [b for b, s, _ in seen if ASKS_UPDATE in b["messages"][0]["content"] and s == 200]
    assert updates
    asked = updates[0]["messages"][-1]["content"]
    assert "Older note (2024-01-05): Falcora pays User's bills." in asked
    assert "Newer note (2024-06-05): User is officially part of Redpine now." in asked

    [falcora] = [f for f in facts(mem) if "Falcora" in f["text"]]
    [redpine] = [f for f in facts(mem) if "Redpine" in f["text"]]
    assert json.loads(redpine["meta"])["by_model"] is True
    assert (falcora["superseded_by"] == redpine["id"]) is closed
    assert (falcora["valid_to"] == redpine["created_at"]) is closed
    assert redpine["valid_to"] is None
