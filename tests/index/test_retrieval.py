"""Retrieval on a real Chroma with the real MiniLM: dense, fused, and the coverage re-ranking of fused candidates."""

from __future__ import annotations

import pytest

from core.base.chunks import Chunk
from core.index.retrieval import RRF_K, candidates, rerank
from core.library.service import UploadedFile
from core.services import Services

# An opinion whose case name heads every page: the name says nothing about which page answers a question.
HEAD = "HARLOW RIVER AUTHORITY v. DEMPSEY\nOpinion of the Court\n"
PAGES = [
    "NOTE: Where it is feasible, a syllabus (headnote) will be released at the time the opinion is issued. The "
    "syllabus constitutes no part of the opinion of the Court but has been prepared by the Reporter of Decisions for "
    "the convenience of the reader. No. 12-345. Argued March 3, 2014. Decided May 9, 2014. CERTIORARI TO THE UNITED "
    "STATES COURT OF APPEALS FOR THE TENTH CIRCUIT.",
    "The Harlow River Authority asks whether the agreement lets it take water across the state line. Dempsey, the "
    "state's water officer, refused the permit the Authority sought.",
    "The Authority argues that the agreement's silence about borders allows cross-border diversion. We disagree with "
    "the Authority's reading of the agreement.",
    "Dempsey contends that the Authority's reading would upset the balance the agreement struck between upstream and "
    "downstream states on the Harlow River.",
    "The history of the agreement between the states supports Dempsey's view; the Authority's contrary reading of its "
    "text is not persuasive.",
    "Harlow River Authority v. Dempsey turns on the text of the agreement; the Authority and Dempsey agree that the "
    "agreement governs the river's water.",
    "Nothing in Harlow River Authority v. Dempsey's record shows that the states meant to let the Authority cross the "
    "line; Dempsey's refusal stands.",
    "For these reasons the judgment of the Court of Appeals in Harlow River Authority v. Dempsey is affirmed.",
]
ARGUED = "When was Harlow River Authority v. Dempsey argued?"


@pytest.fixture
def opinion(services: Services) -> Services:
    """Services with the opinion indexed (one page per form feed) in the collection 'opinions'."""
    text = "\f".join(HEAD + body for body in PAGES)
    (result,) = services.library.ingest("opinions", [UploadedFile("opinion.txt", text.encode())])
    assert result.status == "indexed" and result.pages == len(PAGES)
    return services


def chunk(text: str) -> Chunk:
    return Chunk("id", "doc", "doc.txt", 1, text)


def test_rerank_scales_each_score_by_the_share_of_question_words_its_passage_holds() -> None:
    question = "Which filter does the dishwasher use?"  # content words: filter, dishwasher, use → 3
    passages = [
        chunk("The dishwasher has a coarse filter you use daily."),
        chunk("The dishwasher is quiet."),
        chunk("Unrelated text."),
    ]
    assert rerank(question, passages, [0.03, 0.03, 0.03]) == pytest.approx([0.03, 0.01, 0.0])
    # A question with no content words leaves the fused order alone.
    assert rerank("What is it?", passages, [0.3, 0.2, 0.1]) == pytest.approx([0.3, 0.2, 0.1])


def test_fused_puts_first_the_page_holding_the_word_the_other_pages_lack(opinion: Services) -> None:
    svc = opinion
    # Why the rule is needed: the case name dominates the embedding, so dense retrieval misses the page...
    dense = svc.retriever.search("opinions", ARGUED, 5, "dense").chunks
    assert 1 not in [c.page for c in dense]
    # ...that the keyword index ranks first (only it holds "argued"); plain rank fusion let pages both lists
    # ranked in the middle beat it.
    best_keyword = svc.store.keyword_search("opinions", ARGUED, 1)[0][0]
    assert svc.store.get_chunks("opinions", [best_keyword])[0].page == 1

    found = svc.retriever.search("opinions", ARGUED, 3, "fused")
    assert found.chunks[0].page == 1
    first = found.chunks[0]
    assert first.similarity is not None and 0 < first.similarity < 1  # users see the cosine similarity
    assert first.score is not None and first.score <= 2 / (
        RRF_K + 1
    )  # the score is the fused value, scaled by coverage
    assert [c.score for c in found.chunks] == sorted((c.score for c in found.chunks), reverse=True)


def test_without_question_words_fused_order_is_plain_reciprocal_rank_fusion(opinion: Services) -> None:
    svc = opinion
    question = "What was it about, and why?"  # only stop words: coverage is 1 for every passage
    pool = candidates(3)
    dense = svc.store.query("opinions", svc.embedder.embed([question])[0], pool)
    fused: dict[str, float] = {}
    for rank, hit in enumerate(dense):
        fused[hit.chunk.chunk_id] = fused.get(hit.chunk.chunk_id, 0.0) + 1 / (RRF_K + rank + 1)
    for rank, (cid, _) in enumerate(svc.store.keyword_search("opinions", question, pool)):
        fused[cid] = fused.get(cid, 0.0) + 1 / (RRF_K + rank + 1)
    expected = sorted(fused, key=fused.get, reverse=True)[:3]  # type: ignore[arg-type]
    assert [c.chunk_id for c in svc.retriever.search("opinions", question, 3, "fused").chunks] == expected


def test_the_retrieval_only_benchmark_counts_first_and_top_five_and_lists_the_misses(
    opinion: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks.quality import rank_report
    from core.base.questions import EvalQuestion

    questions = [
        EvalQuestion(ARGUED, "March 3, 2014", "opinion.txt", 1),
        EvalQuestion(
            "Who refused the permit the Authority sought?", "Dempsey", "opinion.txt", 8, pages=(2,)
        ),  # p. 2 holds it too
        EvalQuestion("What is the capital of Australia?", "", unanswerable=True),  # not counted
    ]
    dense = rank_report(opinion, "opinions", questions, "dense", misses=True)
    fused = rank_report(opinion, "opinions", questions, "fused")
    assert dense["questions"] == fused["questions"] == 2
    assert fused["first"] == fused["top5"] == 2
    assert dense["first"] <= dense["top5"] <= 2 and dense["first"] < 2  # dense misses the "argued" page
    assert dense["p50_ms"] > 0
    assert "When was Harlow River Authority v. Dempsey argued?" in capsys.readouterr().out
