"""LangChain interop on the openai engine: the collection's retriever chained to ChatOpenAI, against a real
OpenAI-compatible server (llama-cpp-python's, serving the bundled Gemma 3 270M; tests/helpers/openai_server.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest

from core.config import Settings
from core.integrations.langchain import collection_retriever, openai_chat_model
from core.library.service import UploadedFile
from core.services import build_services
from tests.helpers.openai_server import BASE_ALIAS, LlamaCppServer

MANUAL = Path(__file__).resolve().parents[2] / "sample_docs" / "aquaflow-dishwasher-manual.pdf"


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    with LlamaCppServer(tmp_path_factory.mktemp("llama-server")) as server:
        yield server


@pytest.mark.slow
def test_retriever_prompt_chatopenai_chain_runs_on_the_server(
    settings: Settings,
    embedder,  # noqa: ANN001
    llama_server: LlamaCppServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("langchain_openai")
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough

    secret = "sk-never-shown-4242"
    monkeypatch.setenv("DOMAINCHAT_OPENAI_API_KEY", secret)  # a server without a key ignores it
    settings = replace(settings, engine="openai", openai_base_url=llama_server.url, openai_model=BASE_ALIAS)
    svc = build_services(settings, embedder=embedder)
    try:
        svc.library.ingest("manuals", [UploadedFile(MANUAL.name, MANUAL.read_bytes())])
        prompt = ChatPromptTemplate.from_messages(
            [("system", "Answer from the passages only.\n\n{context}"), ("human", "{question}")]
        )
        passages = collection_retriever(svc, "manuals", k=2) | (
            lambda docs: "\n\n".join(f"[{d.metadata['file']} p.{d.metadata['page']}] {d.page_content}" for d in docs)
        )
        model = openai_chat_model(svc, temperature=0.0, max_tokens=24)
        assert secret not in repr(model)  # the key is a SecretStr: never printed
        chain = {"context": passages, "question": RunnablePassthrough()} | prompt | model
        reply = chain.invoke("How often should the filter be cleaned?")
    finally:
        svc.close()

    assert isinstance(reply.content, str) and reply.content.strip()
    assert reply.response_metadata["model_name"] == BASE_ALIAS  # the engine's model answered, through the server
    assert reply.usage_metadata is not None and reply.usage_metadata["input_tokens"] > 50  # the passages were sent
