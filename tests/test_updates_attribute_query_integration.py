"""The question's attribute by meaning on the real default embedder (issue 14, fourth round:
retrieval/attribute_query.py): questions that share no word with the statements they ask about
are placed in the right attribute, and the newest statement of that attribute leads the search.
Sentences here are the test's own, not any benchmark split's."""

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def embedder():
    from memcli.backends.factory import make_embedder

    return make_embedder("onnx")


@pytest.mark.parametrize("question,attribute", [
    ("Which bank holds my savings these days?", "bank"),
    ("Who is my GP at the moment?", "doctor"),
    ("Which instrument am I learning now?", "instrument"),
    ("What city do I call home?", "residence"),
    ("When did Caroline go to the support group?", None),  # about someone else
    ("Can you recommend a good book about Rome?", None),  # no attribute
])
def test_questions_are_placed_by_meaning(embedder, question, attribute):
    from memcli.retrieval.attribute_query import question_attribute

    assert question_attribute(embedder, question, embedder.embed([question])[0]) == attribute


def test_the_current_doctor_leads_though_the_older_one_shares_the_words(tmp_path, embedder):
    from memcli.services.digest.pipeline import digest
    from memcli.services.memory import Memory
    from tests.test_digest import add_conversation

    mem = Memory(tmp_path / "home", embedder=embedder)
    try:
        for n, (day, text) in enumerate([
            ("2023-02-01", "Dr Varga is my doctor, she has been for years."),
            ("2023-09-01", "Any tips for a sore throat?"),
            ("2024-03-01", "Registered at the new surgery, Dr Abebe is my GP from now on."),
            ("2024-05-01", "My sister's doctor is Dr Klein."),
        ]):
            add_conversation(mem, f"c{n}", [("user", text), ("assistant", "Noted.")], day=day)
        now = mem.resolve_now("2024-12-01")
        digest(mem, use_llm=False)
        hits = mem.search("Who is my doctor these days?", limit=10, now=now)
        first = next(h.text for h in hits if "Dr " in h.text)
        assert "Abebe" in first, [h.text for h in hits[:5]]
    finally:
        mem.close()
