"""'Read passages' training (retrieval-aware fine-tuning): real Chroma, the real embedding model, the chat's own path.

The prompts a variant is trained on must be the very prompts `hybrid` mode sends, so the check builds the
chat's prompt through `ChatService.ask` (an engine at the boundary records the request) and compares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from core.base.words import contains_reference
from core.chat.grounding import attribute
from core.chat.prompts import NOT_FOUND, rag_prompt
from core.chat.service import Question
from core.config import Settings
from core.engines.base import EngineStatus, GenerationRequest, GenerationStats, ModelInfo
from core.evaluation.metrics import is_refusal
from core.finetune.dataset import QAPair
from core.finetune.passages import REFUSAL_ANSWER, build_passage_examples, load_passage_examples
from core.index.embeddings import SentenceTransformerEmbedder
from core.library.service import UploadedFile
from core.services import Services, build_services

ROOT = Path(__file__).resolve().parents[2]

ZORBLAX = "\n\n".join(
    [
        "Zorblax 3000 casing. The casing of the Zorblax 3000 is teal with orange stripes and resists scratches.",
        "Zorblax 3000 warranty. The warranty of the Zorblax 3000 lasts seven years and covers the pump and the casing.",
        "Zorblax 3000 filter. Rinse the filter of the Zorblax 3000 under running water every 14 days.",
        "Zorblax 3000 noise. In quiet mode the Zorblax 3000 runs at 41 decibels, in normal mode at 48 decibels.",
    ]
)
QUIBBLETON = "\n\n".join(
    [
        "Quibbleton valve history. The Quibbleton valve was invented by Marta Vellingsworth in Tromsø.",
        "Quibbleton valve limits. The maximum pressure of the Quibbleton valve is 47 bar at 20 degrees.",
        "Quibbleton valve service. A Quibbleton valve must be inspected by a certified fitter every 18 months.",
    ]
)
PAIRS = [
    QAPair("What colour is the casing of the Zorblax 3000?", "teal with orange stripes", source="zorblax.txt"),
    QAPair("How long does the warranty of the Zorblax 3000 last?", "seven years", source="zorblax.txt"),
    QAPair("How often should the filter of the Zorblax 3000 be rinsed?", "every 14 days", source="zorblax.txt"),
    QAPair("How loud is the Zorblax 3000 in quiet mode?", "41 decibels", source="zorblax.txt"),
    QAPair("Who invented the Quibbleton valve?", "Marta Vellingsworth", source="quibbleton.txt"),
    QAPair("What is the maximum pressure of the Quibbleton valve?", "47 bar", source="quibbleton.txt"),
    QAPair("How often must a Quibbleton valve be inspected?", "every 18 months", source="quibbleton.txt"),
]


@dataclass
class RecordingEngine:
    """An engine at the boundary that records the request the chat sends and answers with a fixed reply."""

    reply: str = "teal"
    requests: list[GenerationRequest] = field(default_factory=list)
    name: str = "embedded"

    def status(self) -> EngineStatus:
        return EngineStatus("embedded", True, "in-process", "recording")

    def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("base"), ModelInfo("variant", "variant")]

    def generate(self, request: GenerationRequest) -> Iterator[str]:
        self.requests.append(request)
        return _Reply(self.reply)


class _Reply:
    def __init__(self, text: str) -> None:
        self.stats = GenerationStats()
        self._text = text

    def __iter__(self) -> Iterator[str]:
        self.stats.mark_token()
        yield self._text
        self.stats.finish()


def _ingest(svc: Services) -> None:
    results = svc.library.ingest(
        "gadgets", [UploadedFile("zorblax.txt", ZORBLAX.encode()), UploadedFile("quibbleton.txt", QUIBBLETON.encode())]
    )
    assert [r.status for r in results] == ["indexed", "indexed"]


@pytest.fixture
def svc(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> Iterator[Services]:
    settings = Settings.from_env(
        env={}, dotenv=None, data_dir=tmp_path / "data", engine="embedded", chunk_size=160, chunk_overlap=0
    )
    services = build_services(settings, embedder=embedder)
    _ingest(services)
    yield services
    services.close()


def test_read_passages_prompts_equal_the_prompts_hybrid_mode_sends(svc: Services) -> None:
    s = svc.settings
    examples, counts = build_passage_examples(
        PAIRS, svc.retriever, "gadgets", top_k=s.top_k, method=s.retrieval, distractor_fraction=0.0
    )
    assert counts.passages == len(examples) >= 5 and counts.distractors == 0
    engine = RecordingEngine()
    for example in examples:
        question = Question(
            example.question, "hybrid", "gadgets", "base", "variant", top_k=s.top_k, retrieval=s.retrieval
        )  # type: ignore[arg-type]
        stream = svc.chat.ask(question, engine)
        list(stream)
        if stream.answer.sources:  # the chat generated (it did not refuse before generating)
            sent = engine.requests[-1].prompt
            assert sent.completion == example.completion
            assert [dict(m) for m in sent.messages] == example.messages
    assert len(engine.requests) >= 5  # most questions reached the engine, so most prompts were compared
    # the passage shown holds the answer, and the example's answer is the pair's
    assert all(contains_reference(e.completion.rsplit("<documents>", 1)[-1], e.answer) for e in examples)
    assert {e.answer for e in examples} <= {p.answer for p in PAIRS}


def test_distractors_show_other_passages_and_teach_the_prompts_refusal(svc: Services) -> None:
    s = svc.settings
    examples, counts = build_passage_examples(
        PAIRS, svc.retriever, "gadgets", top_k=s.top_k, method=s.retrieval, distractor_fraction=0.5, seed=3
    )
    distractors = [e for e in examples if e.kind == "distractor"]
    assert counts.distractors == len(distractors) >= 2 and counts.passages == len(examples) - len(distractors)
    answers = {p.question: p.answer for p in PAIRS}
    for d in distractors:
        assert d.answer == REFUSAL_ANSWER
        shown = d.completion.rsplit("<documents>", 1)[-1]
        assert d.question in shown and not contains_reference(shown, answers[d.question])
    # the target is the refusal the RAG prompt's worked example gives, and the app's refusal detectors know it
    assert f"Answer: {REFUSAL_ANSWER}\n" in rag_prompt("q", []).completion
    assert is_refusal(REFUSAL_ANSWER) and attribute(REFUSAL_ANSWER, ["any passage"], NOT_FOUND).marker == ""
    # the same seed gives the same set; a share of 0 gives none
    again, _ = build_passage_examples(
        PAIRS, svc.retriever, "gadgets", top_k=s.top_k, method=s.retrieval, distractor_fraction=0.5, seed=3
    )
    assert again == examples


def test_a_collection_that_does_not_hold_the_answers_is_refused(svc: Services, tmp_path: Path) -> None:
    from core.errors import FineTuneError

    pairs = [QAPair("What is the capital of Peru?", "Lima"), QAPair("Who wrote Hamlet?", "Shakespeare")]
    dataset = tmp_path / "pairs.jsonl"
    dataset.write_text("".join(json.dumps({"question": p.question, "answer": p.answer}) + "\n" for p in pairs))
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    config = svc.finetune.training_config(dataset, base_gguf=base, base_model="b")
    with pytest.raises(FineTuneError, match="hold none of the 2 training answers"):
        svc.finetune.passage_training_examples(config, "gadgets")
    with pytest.raises(FineTuneError, match="needs the collection"):
        svc.finetune.start_training(dataset, base_gguf=base, base_model="b", read_passages=True)


def _cli(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DOMAINCHAT_DATA_DIR": str(data_dir),
        "DOMAINCHAT_ENGINE": "embedded",
        "DOMAINCHAT_CHUNK_SIZE": "160",
        "DOMAINCHAT_CHUNK_OVERLAP": "0",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.slow
def test_cli_read_passages_reaches_the_training_job(tmp_path: Path, base_gguf: Path, hf_cache: Path) -> None:
    data = tmp_path / "data"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "zorblax.txt").write_text(ZORBLAX)
    (docs / "quibbleton.txt").write_text(QUIBBLETON)
    _cli(data, "ingest", "--collection", "gadgets", str(docs / "zorblax.txt"), str(docs / "quibbleton.txt"))
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        "".join(json.dumps({"question": p.question, "answer": p.answer, "source": p.source}) + "\n" for p in PAIRS)
    )
    _cli(data, "finetune", "dataset", "--import", str(qa), "--name", "gadgets", "--new-fraction", "0")
    missing = _cli(
        data, "finetune", "train", "--dataset", "gadgets", "--base-gguf", str(base_gguf), "--read-passages", check=False
    )
    assert missing.returncode == 1 and "needs the collection" in missing.stderr
    done = json.loads(
        _cli(
            data,
            "finetune",
            "train",
            "--dataset",
            "gadgets",
            "--base-gguf",
            str(base_gguf),
            "--base-model",
            "gemma-3-270m (bundled)",
            "--read-passages",
            "--collection",
            "gadgets",
            "--distractor-fraction",
            "0.5",
            "--max-steps",
            "1",
            "--cache-dir",
            str(hf_cache),
            "--wait",
        ).stdout
    )
    assert done["state"] == "done", done["message"]
    config = json.loads((data / "finetune" / "jobs" / done["job_id"] / "config.json").read_text())
    examples = load_passage_examples(Path(config["passage_examples"]))
    kinds = [e.kind for e in examples]
    assert config["passage_counts"]["passages"] == kinds.count("passages") >= 5
    assert config["passage_counts"]["distractors"] == kinds.count("distractor") >= 1
    # the job trained on them: the plain examples and every read-passages example, none cut
    counts = done["cost"]["example_counts"]
    assert (
        counts["plain"] == len(PAIRS)
        and counts["passages"] == kinds.count("passages")
        and counts["distractor"] == kinds.count("distractor")
    )
    assert counts["passages_too_long"] == 0 and done["cost"]["examples"] == len(PAIRS) + len(examples)


def test_fine_tune_page_read_passages_recipe_reaches_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    from core.finetune import dataset as ds
    from core.finetune import jobs
    from core.finetune.qa_import import split_imported

    data = tmp_path / "data"
    ds.save_training_set(data, "gadgets", split_imported(PAIRS, ds.DatasetOptions(new_fraction=0.0)))
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "embedded")
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.switch_page("pages/finetune.py")
    app.run()
    (recipe,) = [r for r in app.radio if r.label == "Recipe"]
    assert recipe.value == "plain"  # plain by default: nothing else changes
    recipe.set_value("read passages")
    next(b for b in app.button if b.label == "Start training").click().run()
    # no collection is open, so the service refuses before any job starts, with the fix
    assert any("needs the collection" in e.value for e in app.error), [e.value for e in app.error]
    assert jobs.list_jobs(data) == []
