"""LangChain interop on a collection the app built: read it through langchain_chroma, retrieve, and chain to
ChatOllama."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.config import Settings
from core.errors import CollectionNotFoundError
from core.integrations.langchain import AppEmbeddings, chroma_vectorstore, collection_retriever
from core.library.service import UploadedFile
from core.services import Services, build_services
from tests.fakes.ollama_server import FakeModel, FakeOllamaServer

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"
QUESTION = "How often should the filters be checked and cleaned?"


@pytest.fixture
def manuals(services: Services) -> Services:
    [result] = services.library.ingest("manuals", [UploadedFile(MANUAL.name, MANUAL.read_bytes())])
    assert result.status == "indexed"
    return services


def test_langchain_chroma_reads_the_collection_the_app_built_from_disk(manuals: Services, embedder) -> None:
    from langchain_chroma import Chroma

    expected = manuals.retriever.search("manuals", QUESTION, 1, "dense").chunks[0]
    manuals.close()  # a user's script opens the index when the app is not running (one writer at a time)
    store = Chroma(
        collection_name="manuals",
        persist_directory=str(manuals.settings.data_dir / "chroma"),
        embedding_function=AppEmbeddings(embedder),
    )
    [(doc, distance)] = store.similarity_search_with_score(QUESTION, k=1)
    assert doc.id == expected.chunk_id
    assert doc.page_content == expected.text
    assert doc.metadata["source"] == MANUAL.name and doc.metadata["page"] == expected.page
    assert doc.metadata["end"] - doc.metadata["start"] >= len(doc.page_content)
    assert "once a week" in doc.page_content.lower()
    assert abs((1 - distance) - expected.score) < 1e-4  # the collection is cosine, as the app indexed it


def test_chroma_vectorstore_shares_the_running_apps_client(manuals: Services) -> None:
    store = chroma_vectorstore(manuals, "manuals")
    docs = store.similarity_search(QUESTION, k=3)
    assert {d.metadata["doc_id"] for d in docs} == {manuals.library.list_documents("manuals")[0].doc_id}
    assert store.as_retriever(search_kwargs={"k": 2}).invoke(QUESTION)[0].id == docs[0].id


def test_chroma_vectorstore_refuses_writes_and_says_how_to_add_files_instead(manuals: Services) -> None:
    import asyncio

    from langchain_core.documents import Document

    from core.integrations.langchain import ReadOnlyCollectionError

    store = chroma_vectorstore(manuals, "manuals")
    [doc] = manuals.library.list_documents("manuals")
    before = manuals.store.count("manuals")
    new = [Document(page_content="The filters are cleaned every day.", metadata={"source": "note.txt"})]
    writes = {
        "add_texts": lambda: store.add_texts(["The filters are cleaned every day."]),
        "add_documents": lambda: store.add_documents(new),
        "aadd_documents": lambda: asyncio.run(store.aadd_documents(new)),
        "delete": lambda: store.delete([store.similarity_search(QUESTION, k=1)[0].id]),
        "update_document": lambda: store.update_document(store.similarity_search(QUESTION, k=1)[0].id, new[0]),
        "delete_collection": store.delete_collection,
        "reset_collection": store.reset_collection,
    }
    for name, write in writes.items():
        with pytest.raises(ReadOnlyCollectionError, match=r"services\.library\.ingest\('manuals'") as refused:
            write()
        assert "Documents page" in str(refused.value), name
    assert manuals.store.count("manuals") == before == doc.chunks
    assert store.similarity_search(QUESTION, k=1)[0].metadata["doc_id"] == doc.doc_id  # searching still works


def test_retriever_returns_documents_with_file_page_chunk_id_and_score(manuals: Services) -> None:
    retriever = collection_retriever(manuals, "manuals", k=3)
    docs = retriever.invoke(QUESTION)
    assert len(docs) == 3
    expected = manuals.retriever.search("manuals", QUESTION, 3, manuals.settings.retrieval).chunks
    assert [d.id for d in docs] == [c.chunk_id for c in expected]
    assert all(
        d.metadata["file"] == MANUAL.name
        and d.metadata["chunk_id"] == d.id
        and d.id.startswith(d.metadata["doc_id"][:32])
        for d in docs
    )
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    # the filter-cleaning passage (page 6, as the sample's question set says) is among them, with its page
    [filters] = [d for d in docs if "once a week" in d.page_content.lower()]
    assert filters.metadata["page"] == 6


def test_retriever_on_a_missing_collection_says_how_to_create_it(services: Services) -> None:
    with pytest.raises(CollectionNotFoundError, match="create it first"):
        collection_retriever(services, "nothing-here")


def test_retriever_prompt_chatollama_chain_uses_the_registered_variant(
    settings: Settings, embedder, ollama_server: FakeOllamaServer
) -> None:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough
    from langchain_ollama import ChatOllama

    from core.finetune.register import register_existing_ollama

    ollama_server.add_model(FakeModel("manuals-ft:latest", reply="Once a week, under running water."))
    settings = replace(settings, engine="ollama", ollama_host=ollama_server.url)
    svc = build_services(settings, embedder=embedder)
    try:
        svc.library.ingest("manuals", [UploadedFile(MANUAL.name, MANUAL.read_bytes())])
        register_existing_ollama(settings, "manuals-ft", "manuals-ft:latest")
        variant = svc.variants.get("manuals-ft")

        prompt = ChatPromptTemplate.from_messages(
            [
                ("system", "Answer from the passages only.\n\n{context}"),
                ("human", "{question}"),
            ]
        )
        passages = collection_retriever(svc, "manuals", k=2) | (
            lambda docs: "\n\n".join(f"[{d.metadata['file']} p.{d.metadata['page']}] {d.page_content}" for d in docs)
        )
        chain = (
            {"context": passages, "question": RunnablePassthrough()}
            | prompt
            | ChatOllama(model=variant.ollama_model, base_url=settings.ollama_host)
            | StrOutputParser()
        )
        answer = chain.invoke(QUESTION)
    finally:
        svc.close()

    assert answer == "Once a week, under running water."
    [body] = [b for b in ollama_server.bodies("/api/chat") if b["model"] == "manuals-ft:latest"]
    system, human = body["messages"]
    assert human == {"role": "user", "content": QUESTION}
    assert f"[{MANUAL.name} p.6]" in system["content"] and "once a week" in system["content"].lower()
