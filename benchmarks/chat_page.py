"""Benchmark (goal 4): how long the Chat page takes to rerun as the conversation grows.

Run: `.venv/bin/python -m benchmarks.chat_page [--messages 200,1000] [--reruns 7]`.

A conversation of N messages (questions, and answers with three sources each, like real RAG answers)
is saved on a fresh data directory; the Chat page is opened in Streamlit's AppTest and rerun several
times with nothing asked (what every widget click costs); the median rerun is reported.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, Row, SyntheticText, machine, median, table
from core.base.chunks import Chunk
from core.chat.answers import Answer
from core.config import Settings
from core.services import build_services

COLLECTION = "bench"


def make_conversation(data: Path, messages: int) -> None:
    """Save one conversation of `messages` messages in collection `bench`."""

    svc = build_services(Settings.from_env(env={}, dotenv=None, data_dir=data))
    try:
        svc.store.create_collection(COLLECTION, svc.embedder.name, 1000, 150)
        text = SyntheticText(seed=messages)
        chat = svc.history.new(COLLECTION)
        for i in range(messages // 2):
            chat.add_question(text.passage(80))
            sources = [Chunk(f"{i}-{j}", "d" * 64, "manual.pdf", j + 1, text.passage(600), score=0.5) for j in range(3)]
            chat.add_answer(
                Answer(
                    "q",
                    text.passage(300),
                    "rag",
                    "embedded",
                    "gemma-3-270m",
                    sources,
                    {"total_ms": 1500.0, "first_token_ms": 900.0, "tokens_per_s": 45.0, "retrieval_ms": 20.0},
                    cited=[1],
                )
            )
        svc.history.save(chat)
    finally:
        svc.close()


def rerun_ms(data: Path, reruns: int) -> list[float]:
    """Milliseconds per rerun of the Chat page (the first run, which builds the services, is left out)."""
    from streamlit.testing.v1 import AppTest

    saved = {k: os.environ.get(k) for k in ("DOMAINCHAT_DATA_DIR", "DOMAINCHAT_ENGINE")}
    os.environ.update(DOMAINCHAT_DATA_DIR=str(data), DOMAINCHAT_ENGINE="embedded")
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.switch_page("pages/chat.py")
        at.run()
        if at.exception:
            raise RuntimeError(f"the Chat page failed: {at.exception}")
        times = []
        for _ in range(reruns):
            started = time.perf_counter()
            at.run()
            times.append((time.perf_counter() - started) * 1000)
        return times
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run(tiny: bool = False, sizes: tuple[int, ...] = (0, 200, 1000), reruns: int = 7) -> list[Row]:
    """One row per conversation size (`tiny`: 20 messages, 2 reruns)."""
    if tiny:
        sizes, reruns = (20,), 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            data = Path(tmp) / f"chat-{n}"
            if n:
                make_conversation(data, n)
            else:
                build_services(Settings.from_env(env={}, dotenv=None, data_dir=data)).close()
            times = rerun_ms(data, reruns)
            rows.append(
                Row(
                    "4 chat page",
                    f"rerun with {n} messages (AppTest)",
                    median(times),
                    "ms median",
                    f"min {min(times):.0f} ms",
                )
            )
    return rows


def main() -> None:
    """Print the Chat page table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", default="0,200,1000")
    parser.add_argument("--reruns", type=int, default=7)
    parser.add_argument("--tiny", action="store_true")
    ns = parser.parse_args()
    print(machine())
    print(table(run(ns.tiny, tuple(int(s) for s in ns.messages.split(",")), ns.reruns)))


if __name__ == "__main__":
    main()
