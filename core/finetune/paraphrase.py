"""The paraphrase recipe: each training pair is also trained under rewordings of its question, with the same answer.

Rewordings come from the model when the engine has an instruction model (`generation.reword_question`: the prompt and
the check that make the evaluation's reworded half), and from the rule-based surface rewordings
(`surface_rewordings`) where the engine cannot reword (the bundled 270M base model) or left a pair short. A rule-based
rewording passes the same check (`generation.rewording_problem`: it keeps the question's names, numbers and codes and
does not give the answer away), except that it need only use other words, not mostly other words.

No training rewording may be an evaluation question: one that equals, or shares most of its words with, a question
of the evaluation's reworded half (by the bar that half keeps from the training question, `REWORD_MAX_OVERLAP`) is
dropped and counted, so the reworded half stays a test of knowledge, not of a string the variant was trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from core.base.questions import HALF_FILES, read_finetune_halves, read_questions
from core.base.words import normalise_plain
from core.config import Settings
from core.engines.resolver import Engines
from core.errors import QuestionFileError
from core.finetune.dataset import DatasetStats, QAPair
from core.finetune.generation import (
    REWORD_MAX_OVERLAP,
    Generator,
    OnProgress,
    engine_generator,
    reword_question,
    reworded_pair,
    rewording_problem,
    word_overlap,
)
from core.finetune.surface_rewordings import rule_rewordings

# rewordings trained per pair: each is one more example per pair per epoch, so 2 triples the training time
REWORDINGS_PER_PAIR = 2
MODEL, RULES = "model", "rule-based"


@dataclass
class ParaphraseCounts:
    """What building the rewordings did: for the job's status, the variant's cost and its recipe line."""

    pairs: int = 0
    per_pair: int = 0  # rewordings asked for per pair
    rewordings: int = 0  # rewordings trained, all pairs together
    from_model: int = 0
    from_rules: int = 0
    model_rejected: int = 0  # model replies that failed the check or were not the JSON asked for
    evaluation_dropped: int = 0  # equal, or nearly, to a question of the evaluation's reworded half
    duplicates_dropped: int = 0  # the same words as a training question or another rewording
    pairs_without: int = 0  # pairs left with no rewording at all
    evaluation_questions: int = 0  # reworded evaluation questions the rewordings were kept away from

    @property
    def source(self) -> str:
        """Where the rewordings came from: "model", "rule-based", "model and rule-based" ("" when none was made)."""
        return " and ".join(w for w, n in ((MODEL, self.from_model), (RULES, self.from_rules)) if n)

    def per_pair_trained(self) -> float:
        """Rewordings trained per pair, on average."""
        return self.rewordings / self.pairs if self.pairs else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The counts as JSON, with where the rewordings came from."""
        return {**asdict(self), "source": self.source}


class EvaluationGuard:
    """The reworded evaluation questions a training rewording must stay away from."""

    def __init__(self, questions: Iterable[str]) -> None:
        self.keys = {normalise_plain(q) for q in questions} - {""}

    def too_close(self, text: str) -> bool:
        """Whether `text` equals an evaluation question (case and punctuation aside) or shares most of its words."""
        key = normalise_plain(text)
        return key in self.keys or any(word_overlap(key, other) >= REWORD_MAX_OVERLAP for other in self.keys)


def evaluation_rewordings(dataset: Path, files: Sequence[Path] = ()) -> list[str]:
    """The reworded evaluation questions of a training set's folder (its reworded half) and of question `files`."""
    questions = []
    folder = Path(dataset)
    if folder.is_dir() and (folder / HALF_FILES["reworded"]).is_file():
        try:
            questions += [q.question for q in read_finetune_halves(folder) if q.split == "reworded"]
        except QuestionFileError:
            pass  # halves left empty: nothing to keep away from
    for path in files:
        questions += [q.question for q in read_questions(Path(path)) if q.split == "reworded" or q.rewords]
    return questions


def model_generator(spec: Mapping[str, Any], seed: int = 0) -> Generator:
    """The generator a job rewords with: `spec` names the engine, the model ("" for its default) and the starter's
    settings, as a generation job's config does."""
    engines = Engines(Settings(**spec["settings"]))
    engine = engines.named(str(spec["engine"]))
    return engine_generator(engine, str(spec.get("model") or "") or engines.default_model(engine), seed=seed)


def paraphrase_pairs(
    pairs: Sequence[QAPair],
    per_pair: int = REWORDINGS_PER_PAIR,
    *,
    generate: Generator | None = None,
    evaluation: Iterable[str] = (),
    max_retries: int = 1,
    progress: OnProgress | None = None,
) -> tuple[list[QAPair], ParaphraseCounts]:
    """Each pair, then up to `per_pair` rewordings of its question with the same answer (`rewords` names the pair's
    question); the model's rewordings first when `generate` is given, then rule-based ones."""
    guard = EvaluationGuard(evaluation)
    counts = ParaphraseCounts(pairs=len(pairs), per_pair=per_pair, evaluation_questions=len(guard.keys))
    seen = {normalise_plain(p.question) for p in pairs}
    out: list[QAPair] = []
    for n, pair in enumerate(pairs):
        if progress:
            progress(n, len(pairs), "Rewording the training questions")
        made: list[QAPair] = []

        def keep(question: str) -> bool:
            key = normalise_plain(question)
            if key in seen:
                counts.duplicates_dropped += 1
                return False
            if guard.too_close(question):
                counts.evaluation_dropped += 1
                return False
            seen.add(key)
            made.append(reworded_pair(pair, question))
            return True

        if generate is not None:
            for _ in range(per_pair):
                stats = DatasetStats()
                asked = reword_question(pair, generate, max_retries, stats)
                counts.model_rejected += stats.malformed_outputs + stats.reword_failed
                if asked is not None and keep(asked.question):
                    counts.from_model += 1
        for question in rule_rewordings(pair.question):
            if len(made) >= per_pair:
                break
            if not rewording_problem(pair.question, question, pair.answer, max_overlap=None) and keep(question):
                counts.from_rules += 1
        counts.rewordings += len(made)
        counts.pairs_without += not made
        out += [pair, *made]
    return out, counts
