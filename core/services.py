"""Build every service of the app in one place; the UI caches only this bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.advisor.journey import JourneyService, Sources
from core.advisor.service import AdvisorService
from core.chat.history import ChatHistory
from core.chat.service import ChatService
from core.config import Settings
from core.engines.resolver import Engines
from core.engines.variants import VariantRegistry
from core.evaluation.document_update import UpdateTestService
from core.evaluation.service import EvaluationService
from core.finetune.service import FineTuneService
from core.index.embeddings import Embedder, make_embedder
from core.index.keyword import KeywordIndexes
from core.index.retrieval import Retriever
from core.index.store import VectorStore, lock_store
from core.index.store_probe import StoreHealth, StoreProbe
from core.library.catalog import Catalog
from core.library.pageview import PageViewService
from core.library.recovery import MaintenanceLock, RecoveryReport, reconcile
from core.library.service import DocumentLibrary


@dataclass
class Services:
    """Everything the pages and the command line call."""

    settings: Settings
    store: VectorStore
    catalog: Catalog
    embedder: Embedder
    library: DocumentLibrary
    retriever: Retriever
    variants: VariantRegistry
    chat: ChatService
    history: ChatHistory
    engines: Engines
    finetune: FineTuneService
    pageview: PageViewService
    recovery: RecoveryReport = field(default_factory=RecoveryReport)  # what start-up repaired after an interrupted run
    maintenance_lock: MaintenanceLock | None = None

    @property
    def evaluation(self) -> EvaluationService:
        """The evaluation service (stateless: built on the bundle's chat service, embedder and engines)."""
        return EvaluationService(self.settings, self.chat, self.embedder, self.engines, self.finetune)

    @property
    def update_test(self) -> UpdateTestService:
        """The document-update test (stateless: built on the bundle's library, chat service and variants)."""
        return UpdateTestService(self)

    @property
    def journey(self) -> JourneyService:
        """Where the user stands on the five steps (stateless: reads the other services' state on disk)."""
        return JourneyService(self.settings.data_dir, journey_sources(self))

    @property
    def advisor(self) -> AdvisorService:
        """The advisor (stateless: reads the saved grid runs, update tests, training jobs and the catalog)."""
        return AdvisorService(self.settings.data_dir, self.evaluation, self.catalog)

    def close(self) -> None:
        """Release the on-disk index lock and stop the kept parser process."""
        self.library.parsers.close()
        self.store.close()
        if self.maintenance_lock is not None:
            self.maintenance_lock.release()
            self.maintenance_lock = None


def journey_sources(svc: Services) -> Sources:
    """What the journey reads from the other services: indexed passages, answers, variants, finished runs."""

    def indexed() -> tuple[int, int]:
        sizes = [c.chunks for c in svc.library.list_collections() if c.chunks]
        return len(sizes), sum(sizes)

    def answers() -> int:
        names = [None, *(c.name for c in svc.library.list_collections())]
        return sum(
            1
            for name in names
            for chat in svc.history.conversations(name)
            for m in chat.messages
            if m.get("role") == "assistant" and not m.get("pending")
        )

    return Sources(
        indexed=indexed,
        answers=answers,
        variants=lambda: len(svc.variants.list()),
        scored_runs=lambda: sum(r.status.state == "done" for r in svc.evaluation.list_runs()),
    )


def build_services(
    settings: Settings,
    *,
    chroma_client: Any = None,
    embedder: Embedder | None = None,
    parser: str | None = None,
    check_store: bool = False,
) -> Services:
    """Create the services for `settings`; tests inject a Chroma client, an embedder or a parser.

    `check_store`: probe the on-disk vector store for damage in a child process first (the app does, once per
    process; ≈2–4 s when the store changed since it was last found healthy, so one-shot CLI commands do not).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # A damaged vector index is found by a child process, never by a crash here; it must finish before this process
    # opens the store (two processes opening a damaged store at once crashed Chroma's native code here).
    # The store's lock is taken first, so no other domainchat process has the store open while the child reads it.
    lock = lock_store(settings) if check_store and chroma_client is None and not settings.chroma_host else None
    try:
        health = StoreProbe(settings).result() if lock is not None else StoreHealth()
        store = (
            VectorStore(chroma_client, keywords=KeywordIndexes(settings.data_dir / "keywords"))
            if chroma_client is not None
            else VectorStore.open(settings)
        )
    finally:
        if lock is not None:
            lock.release()  # the store took its own hold on the same lock
    catalog = Catalog(settings.data_dir / "catalog.sqlite3")
    embedder = embedder or make_embedder(settings)
    library = DocumentLibrary(settings, store, catalog, embedder, parser=parser)
    retriever = Retriever(store, embedder)
    engines = Engines(settings)
    history = ChatHistory(settings.data_dir)
    # Only the process holding the data directory's maintenance lock repairs what an interrupted run left.
    library.store_health = health
    maintenance_lock = MaintenanceLock.try_acquire(settings.data_dir)
    recovery = RecoveryReport()
    if maintenance_lock is not None:
        try:
            skip = set(library.store_health.damaged) | (
                set(catalog.collections()) if library.store_health.unreadable else set()
            )
            recovery = reconcile(library, skip=frozenset(skip))
        except BaseException:
            maintenance_lock.release()
            store.close()
            raise
    return Services(
        settings=settings,
        store=store,
        catalog=catalog,
        embedder=embedder,
        library=library,
        retriever=retriever,
        variants=VariantRegistry(settings.data_dir),
        chat=ChatService(settings, retriever, engines, history),
        history=history,
        engines=engines,
        finetune=FineTuneService(settings, library, engines, retriever),
        pageview=PageViewService(settings, catalog, library.originals),
        recovery=recovery,
        maintenance_lock=maintenance_lock,
    )
