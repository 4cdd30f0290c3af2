"""`memcli chat` latency: does the UI keep up, and does it stay responsive while the model works?

Two parts, each on a fresh temporary store seeded with a few notes:

1. UI path (``--part ui``): the real textual app, headless, with a fake LLM that streams N words.
   Measures streaming throughput through ``call_from_thread`` and the event-loop lag (how late a
   10 ms UI timer fires) while an answer streams: the lag is what a keypress would wait.
2. Model path (``--part model``): ``ChatSession.ask`` with the default embedder and LLM (bundled
   MiniLM + SmolLM2-135M): time until the question is stored, until the first token, until the
   answer is stored.

    .venv/bin/python benchmarks/bench_chat.py [--part ui|model|both] [--words 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import header, table, timing_summary

NOTES = [
    ("bike", "I bought a blue Brompton folding bike in Berlin in March 2024"),
    ("dentist", "The dentist appointment is on Friday at 9 with Dr. Weber"),
    ("wifi", "Grandma's wifi password is sunflower77"),
    ("Anna", "My sister Anna lives in Lisbon and works as an architect"),
    ("parking", "My parking spot at work is P3-17, on the third level"),
]
QUESTIONS = ["Where does my sister Anna live?", "What is grandma's wifi password?",
             "Which bike did I buy in Berlin?"]


def seeded_memory(home: Path, embedder, llm):
    from memcli.services.memory import Memory

    mem = Memory(home, embedder=embedder, llm=llm)
    for title, text in NOTES:
        mem.remember(text, title=title)
    return mem


def bench_ui(words: int) -> str:
    from memcli.backends.fakes import FakeLLM, HashEmbedder
    from memcli.tui.app import MemcliApp

    # grounded sentences (each is checked against source [1] before it is shown), ``words`` tokens
    sentence = "You bought a blue Brompton folding bike in Berlin in March 2024 [1]."
    reply = " ".join([sentence] * max(1, words // len(sentence.split())))
    words = len(reply.split())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        mem = seeded_memory(Path(tmp) / "home", HashEmbedder(), FakeLLM(reply))
        for size in ((120, 35), (60, 15)):
            app = MemcliApp(mem, llm=FakeLLM(reply))
            lags: list[float] = []
            result = {}

            async def scenario(app=app, lags=lags, result=result, size=size):
                async with app.run_test(size=size) as pilot:
                    await app.workers.wait_for_complete()
                    expected = [time.perf_counter() + 0.01]

                    def tick():
                        now = time.perf_counter()
                        lags.append(max(0.0, now - expected[0]))
                        expected[0] = now + 0.01

                    box = app.query_one("#question")
                    box.value = "Which bike did I buy in Berlin?"
                    t0 = time.perf_counter()
                    timer = app.set_interval(0.01, tick)
                    await pilot.press("enter")
                    await app.workers.wait_for_complete()
                    await pilot.pause()
                    result["seconds"] = time.perf_counter() - t0
                    timer.stop()
                    stored = app.turns[-1].answer.answer if app.turns else ""
                    result["ok"] = stored.startswith("You bought a blue Brompton")

            asyncio.run(scenario())
            s = timing_summary(lags)
            rows.append((f"{size[0]}x{size[1]}", words, result["seconds"],
                         words / result["seconds"], s["p50_ms"], s["p95_ms"], s["max_ms"],
                         "yes" if result.get("ok") else "NO"))
        mem.close()
    return table(["terminal", "tokens", "answer s", "tokens/s", "UI lag p50 ms",
                  "UI lag p95 ms", "UI lag max ms", "answer stored"], rows)


def bench_model() -> str:
    from memcli.backends.factory import make_embedder, make_llm
    from memcli.core.config import Config
    from memcli.services.chat import ChatSession

    cfg = Config.load()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        mem = seeded_memory(Path(tmp) / "home", make_embedder(cfg.embedding_backend),
                            make_llm(cfg))
        seed_s = time.perf_counter() - t
        session = ChatSession(mem)
        for q in QUESTIONS:
            marks: dict[str, float] = {}
            tokens = []
            real_add = session.add_message

            def add(role, text, meta=None, _real=real_add, _m=marks):
                out = _real(role, text, meta=meta)
                _m[role] = time.perf_counter()
                return out

            session.add_message = add

            def on_token(tok, _m=marks, _t=tokens):
                _m.setdefault("first", time.perf_counter())
                _t.append(tok)

            t0 = time.perf_counter()
            turn = session.ask(q, on_token=on_token)
            session.add_message = real_add
            rows.append((q, marks["user"] - t0, marks.get("first", float("nan")) - t0,
                         marks["assistant"] - t0, len(tokens), len(turn.answer.citations),
                         " ".join(turn.answer.answer.split())[:60]))
        mem.close()
    note = f"seeding {len(NOTES)} notes (loads the embedder): {seed_s:.2f} s"
    return note + "\n\n" + table(["question", "stored s", "first token s", "answer stored s",
                                  "pieces", "citations", "answer (start)"], rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=["ui", "model", "both"], default="both")
    p.add_argument("--words", type=int, default=2000)
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parts = []
    if args.part in ("ui", "both"):
        parts.append("UI path (headless textual app, fake LLM streaming word by word):\n\n"
                     + bench_ui(args.words))
    if args.part in ("model", "both"):
        parts.append("Model path (ChatSession.ask, default embedder + LLM):\n\n" + bench_model())
    print(header("memcli chat: streaming and responsiveness") + "\n\n" + "\n\n".join(parts))


if __name__ == "__main__":
    main()
