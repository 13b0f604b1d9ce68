"""LangChain interop: use a collection built in the app from your own LangChain code.

- `AppEmbeddings`: the app's embedding model as a LangChain `Embeddings` (the same vectors the
  collection was indexed with, so queries match).
- `CollectionRetriever`: a LangChain `BaseRetriever` over a collection with the app's own retrieval
  (dense, or BM25 + dense fused); `Document`s carry file, page, chunk id, score and character offsets.
- `chroma_vectorstore`: the collection as a `langchain_chroma.Chroma` vector store (same Chroma client),
  for searching. Its writes are refused with the way to do them: the app keeps the document list, the
  keyword index and the kept originals in step with the chunks, and start-up recovery removes chunks no
  catalog row knows, so a chunk added behind its back would be missing from fused search and gone at
  the next start.
- `openai_chat_model`: the openai engine's model (an OpenAI-compatible server: vLLM, SGLang, TGI, llama.cpp server,
  LM Studio) as LangChain's `ChatOpenAI`, with the app's base URL, key variable and model (a variant runs under the
  name the server serves it as), to chain after the retriever as one would chain `ChatOllama`.

Chunking stays ours (why: core/documents/chunking.py).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, NoReturn

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from core.base.chunks import Chunk
from core.errors import AppError, ConfigError
from core.index.embeddings import Embedder
from core.index.retrieval import Method, Retriever, is_method
from core.services import Services

if TYPE_CHECKING:
    from langchain_chroma import Chroma  # a heavy optional dependency, imported where used
    from langchain_openai import ChatOpenAI  # optional (requirements-dev.txt), imported where used


class AppEmbeddings(Embeddings):
    """The app's embedding model (bundled all-MiniLM-L6-v2 or the configured Ollama model) for LangChain."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text."""
        return self.embedder.embed(texts)

    def embed_query(self, text: str) -> list[float]:
        """The vector of a query."""
        return self.embedder.embed([text])[0]


class CollectionRetriever(BaseRetriever):
    """Retrieves passages of one app collection as LangChain `Document`s, best first."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    collection: str
    k: int = 3
    method: Method = "fused"

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        found = self.retriever.search(self.collection, query, self.k, self.method)
        return [to_document(chunk, self.collection) for chunk in found.chunks]


def to_document(chunk: Chunk, collection: str) -> Document:
    """A retrieved chunk as a LangChain `Document` (metadata: file, page, chunk id, score, offsets)."""
    metadata: dict[str, Any] = {
        "file": chunk.source,
        "page": chunk.page,
        "chunk_id": chunk.chunk_id,
        "doc_id": chunk.doc_id,
        "score": chunk.score,
        "start": chunk.start,
        "end": chunk.end,
        "collection": collection,
    }
    return Document(page_content=chunk.text, metadata=metadata, id=chunk.chunk_id)


def collection_retriever(
    services: Services, collection: str, k: int | None = None, method: Method | None = None
) -> CollectionRetriever:
    """A retriever over `collection` with the app's settings (top-k, retrieval method) unless given."""
    services.store.collection_info(collection)  # a missing collection fails here, with the fix, not at the first query
    chosen = method or services.settings.retrieval
    if not is_method(chosen):  # Settings refuse an unknown method: this only tells the type checker
        raise ConfigError(f"Retrieval method {chosen!r} is not valid: use dense or fused.")
    return CollectionRetriever(
        retriever=services.retriever, collection=collection, k=k or services.settings.top_k, method=chosen
    )


def openai_chat_model(
    services: Services, model: str = "", max_tokens: int | None = None, **kwargs: Any
) -> "ChatOpenAI":
    """The openai engine's chat model as `langchain_openai.ChatOpenAI` (`model` may be a registered variant's name).

    It speaks /v1/chat/completions, so the server applies the model's chat template: fit for an instruction model;
    a base model without a template (the bundled Gemma 3 270M) answers far better through the app's completion form.
    """
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:
        raise ConfigError("ChatOpenAI needs langchain-openai: `pip install langchain-openai==1.7.4`.") from None
    from pydantic import SecretStr

    from core.engines.openai_engine import NO_KEY, read_api_key

    engine = services.engines.openai
    if max_tokens is not None:
        # ChatOpenAI sends only max_completion_tokens, which servers built on the older field (llama-cpp-python's)
        # ignore and generate to the end of the context: send both.
        kwargs["max_completion_tokens"] = max_tokens
        kwargs["extra_body"] = {**(kwargs.get("extra_body") or {}), "max_tokens": max_tokens}
    key, _ = read_api_key(services.settings.openai_api_key_env)  # read now, handed to the client, kept nowhere else
    return ChatOpenAI(
        model=engine.resolve_model(model or engine.default_model),
        base_url=engine.base_url,
        api_key=SecretStr(key or NO_KEY),
        timeout=services.settings.openai_read_timeout_s,
        max_retries=services.settings.openai_retries,
        **kwargs,
    )


class ReadOnlyCollectionError(AppError):
    """A write through LangChain into a collection the app manages."""


def chroma_vectorstore(services: Services, collection: str) -> "Chroma":
    """The collection as a `langchain_chroma.Chroma` store on the app's own Chroma client and embeddings (search
    only)."""
    services.store.check_embedding_model(collection, services.embedder.name)
    return _read_only_chroma()(
        client=services.store.client, collection_name=collection, embedding_function=AppEmbeddings(services.embedder)
    )


@functools.cache
def _read_only_chroma() -> type:
    """`langchain_chroma.Chroma` with every write refused (a class made once, on first use: the import is heavy)."""
    from langchain_chroma import Chroma

    class ReadOnlyChroma(Chroma):
        def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
            name = self._collection_name
            raise ReadOnlyCollectionError(
                f"Collection {name!r} is managed by domainchat, so it is search-only from LangChain: a chunk written "
                "here would be missing from keyword search and removed at the app's next start. Add files with "
                f"services.library.ingest({name!r}, [UploadedFile(name, data)]) or the Documents page, and remove them "
                f"with services.library.delete_document({name!r}, doc_id) or the same page."
            )

        # add_documents and the async variants all end in add_texts.
        add_texts = add_images = update_document = update_documents = delete = _refuse
        delete_collection = reset_collection = fork = _refuse

    return ReadOnlyChroma
