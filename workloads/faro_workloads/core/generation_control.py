"""Running a collection's generations: apply the plan for the wanted profile, backfill, gate, cut over,
roll back, drop what retention lets go (:class:`GenerationController`).

The gate before a cutover checks that (a) the new generation holds every document at its current content
and nothing else (under the cutover lock, at the moment of the switch), and (b) its two stores agree: the
same point ids, and overlap@k at least ``min_overlap``; and, given ``golden_queries``, (c) the golden
queries' recall@k on the new generation is at most ``max_recall_drop`` below the live one's (each generation
searched with its own model). Its PostgreSQL HNSW index is built and Qdrant's vector indexing switched on
before (b): the bulk load ran without them. A gate that fails leaves the live generation serving and says
why (:class:`CutoverBlocked`); ``cutover: Manual`` waits for :meth:`approve`. An approval also overrides
(c), a judgement people may make, never (a) or (b).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from faro_workloads.contract.embedding_settings import EmbeddingConfig
from faro_workloads.contract.generations import CutoverBlock, Generation, GenerationState, in_state
from faro_workloads.contract.golden_queries import GoldenQueries
from faro_workloads.contract.index_profile import IndexProfile
from faro_workloads.contract.settings import GenerationsConfig
from faro_workloads.core.backfill import Backfill, PassResult, Progress
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.consistency import check_consistency
from faro_workloads.core.embedding import Embedder
from faro_workloads.core.embedding.cached import CachedEmbedder
from faro_workloads.core.evaluation import (
    RetrievalScore,
    load_golden_queries,
    score_retrieval,
    vector_document_search,
)
from faro_workloads.core.generation_plan import Action, GenerationPlan, beyond_retention, plan_generations
from faro_workloads.core.metrics import (
    BACKFILL_DOCUMENTS,
    BACKFILL_RESULTS,
    CUTOVER_RESULTS,
    GENERATION_CUTOVERS,
    GOLDEN_MRR,
    GOLDEN_RECALL,
    REINDEX_PROGRESS,
    expose_label_values,
)
from faro_workloads.core.outbox import OutboxDrainer
from faro_workloads.core.profile_runtime import EmbedderFactory, gateway_embedder_factory
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.errors import ConfigurationError, InputError

log = logging.getLogger(__name__)

CUTOVER_ATTEMPTS = 5
"""Switches tried in one step, each after filling what was written since the last (see ``_cutover``)."""


@dataclass(frozen=True, slots=True)
class CutoverBlocked:
    """Why the cutover did not happen: a CamelCase ``reason`` and a message with the numbers."""

    reason: CutoverBlock
    message: str


class UnknownGeneration(InputError):
    """A generation id the registry does not hold."""


class NotBuilding(InputError):
    """An approval of a generation that is not building (live or retired already)."""


@dataclass(slots=True)
class StepReport:
    """What one :meth:`GenerationController.step` did and found."""

    plan: GenerationPlan
    target: int | None = None  # the generation the backfill filled (building, or live after a rollback)
    progress: Progress | None = None
    backfill: PassResult | None = None
    promoted: int | None = None
    blocked: CutoverBlocked | None = None
    dropped: list[int] = field(default_factory=list)


class GenerationController:
    """Keeps one collection's generations in line with ``wanted``: the profile of ``chunker`` and
    ``embedder`` (which fill new generations). ``pg`` and ``qdrant`` are the collection's stores (any
    generation's: the others are reached with ``for_generation``). ``embedder_for`` gives the embedder of
    another profile (the live generation's, for the golden queries): by default the hashing embedder or,
    for a gateway model, one through the default gateway settings."""

    def __init__(
        self,
        pg: PgVectorStore,
        qdrant: QdrantStore,
        chunker: Chunker,
        embedder: Embedder,
        config: GenerationsConfig | None = None,
        embedder_for: EmbedderFactory | None = None,
    ) -> None:
        self._pg = pg
        self._qdrant = qdrant
        self._chunker = chunker
        self._model = embedder.inner if isinstance(embedder, CachedEmbedder) else embedder
        self._embedder = embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder, pg)
        self._embedder_for = embedder_for or gateway_embedder_factory(EmbeddingConfig())
        self._config = config or GenerationsConfig()
        self.wanted = IndexProfile.current(embedder.identity, chunker.identity)
        expose_label_values(BACKFILL_DOCUMENTS, BACKFILL_RESULTS)
        expose_label_values(GENERATION_CUTOVERS, CUTOVER_RESULTS)
        self.last_scores: dict[str, RetrievalScore] = {}
        """The golden queries' scores at the last gate that ran them, by "live" and "building"."""
        self.last_block: tuple[int, CutoverBlocked] | None = None
        """The generation whose cutover the last step refused, and why (None after a cutover)."""
        self._live_checked: int | None = None  # the live generation a pass last found complete

    def generations(self) -> list[Generation]:
        return self._pg.generations()

    def live(self) -> Generation | None:
        return in_state(self.generations(), GenerationState.LIVE)

    def lock(self) -> AbstractContextManager[bool]:
        """The collection's generations lock (see :meth:`PgVectorStore.generations_lock`)."""
        return self._pg.generations_lock()

    def approve(self, generation: int) -> bool:
        """Let a ``cutover: Manual`` switch to the building ``generation`` once it passes the gate (recorded
        in the registry, for whichever process runs the cutover); False when it is not building."""
        return self._pg.approve_generation(generation)

    def approve_building(self, generation: int) -> None:
        """:meth:`approve`, refusing a ``generation`` that does not exist (:class:`UnknownGeneration`) or is
        not building (:class:`NotBuilding`), each in one line: what the API and ``faro local`` say."""
        found = {g.id: g for g in self.generations()}
        if generation not in found:
            raise UnknownGeneration(f"generation {generation} does not exist")
        if found[generation].state is not GenerationState.BUILDING:
            raise NotBuilding(f"generation {generation} is {found[generation].state.value}, not Building")
        self.approve(generation)

    # ------------------------------------------------------------------------------------------ the plan

    def reconcile(self) -> GenerationPlan:
        """Apply the plan for the wanted profile: register the first generation, start building a new one,
        or roll back to a retired one at once; drop abandoned and expired ones."""
        plan = plan_generations(self.wanted, self.generations())
        for generation in plan.drop:
            self._drop(generation)
        if plan.action is Action.INITIALIZE:
            self._pg.register_generation(self.wanted, GenerationState.LIVE, at=plan.generation)
            self._qdrant.for_generation(plan.generation).point_live_alias()
            log.info("generation %d registered live: %s", plan.generation, self.wanted.describe())
        elif plan.action is Action.BUILD:
            self._pg.register_generation(self.wanted, GenerationState.BUILDING, at=plan.generation)
            self._pg.for_generation(plan.generation).ensure_chunks_table(with_hnsw=False)
            self._qdrant.for_generation(plan.generation).ensure_collection(defer_indexing=True)
            log.info("generation %d building: %s", plan.generation, self.wanted.describe())
        elif plan.action is Action.ROLLBACK:
            self._pg.for_generation(plan.generation).promote(require_complete=False)
            self._qdrant.for_generation(plan.generation).point_live_alias()
            GENERATION_CUTOVERS.labels("rolled_back").inc()
            log.info("rolled back to generation %d: %s", plan.generation, self.wanted.describe())
            self._apply_retention()
        return plan

    # ------------------------------------------------------------------------------------------ the work

    def progress(self, generation: int) -> Progress:
        """How complete ``generation`` is (a count over the documents and its chunks)."""
        return Progress(*self._pg.for_generation(generation).completeness())

    def building(self) -> tuple[Generation, Progress] | None:
        """The building generation and how complete it is, or None."""
        generation = in_state(self.generations(), GenerationState.BUILDING)
        if generation is None:
            return None
        return generation, self.progress(generation.id)

    def step(
        self,
        stop: threading.Event | None = None,
        on_batch: Callable[[PassResult], None] | None = None,
    ) -> StepReport:
        """Reconcile, then one backfill pass over the generation that needs one (the building one, or the
        live one after a rollback), then — when it is the building one and complete — the gate and the
        cutover. ``on_batch`` sees the pass's running result after each batch."""
        plan = self.reconcile()
        report = StepReport(plan)
        generations = self.generations()
        building = in_state(generations, GenerationState.BUILDING)
        live = in_state(generations, GenerationState.LIVE)
        # The live generation is written by ingest itself: it needs a pass only once after it became live
        # here or anywhere (a rollback leaves it without the documents changed since it retired; a process
        # that stopped mid-way is restarted) — not a full scan of both tables at every step.
        catch_up = (
            live is not None and live.fingerprint == self.wanted.fingerprint and live.id != self._live_checked
        )
        target = building or (live if catch_up else None)
        if target is None:
            return report
        backfill = self.backfill(target.id, live)
        report.target = target.id
        report.backfill = backfill.run_pass(stop, on_batch)
        report.progress = backfill.progress()
        if building is None:
            REINDEX_PROGRESS.set(1.0)
            if not report.backfill.stopped:
                self._live_checked = target.id
            return report
        progress = report.progress
        REINDEX_PROGRESS.set(progress.done / progress.documents if progress.documents else 1.0)
        if report.backfill.stopped or (report.backfill.claimed_elsewhere and not progress.complete):
            return report  # stopped, or other processes are still filling their share: the gate can wait
        report.blocked = self._gate(building, live, progress, report.backfill)
        if report.blocked is None:
            report.blocked = self._cutover(building.id, live, stop)
            if report.blocked is None:
                report.promoted = building.id
                report.dropped = self._apply_retention()
        self.last_block = (building.id, report.blocked) if report.blocked is not None else None
        blocked = report.blocked  # recorded for the operator's CutoverBlocked condition; cleared once live
        self._pg.record_block(
            building.id, blocked.reason if blocked else None, blocked.message if blocked else None
        )
        if report.blocked is not None:
            GENERATION_CUTOVERS.labels("blocked").inc()
            log.warning("cutover to generation %d blocked: %s", building.id, report.blocked.message)
        return report

    def assist(
        self,
        stop: threading.Event | None = None,
        on_batch: Callable[[PassResult], None] | None = None,
    ) -> PassResult | None:
        """One backfill pass over the building generation beside the process that holds the generations lock
        (another replica): only when it builds the wanted profile — a process still configured with another
        one (a rollout under way) must not fill it with its model. None when there is nothing to help."""
        generations = self.generations()
        building = in_state(generations, GenerationState.BUILDING)
        if building is None or building.fingerprint != self.wanted.fingerprint:
            return None
        live = in_state(generations, GenerationState.LIVE)
        return self.backfill(building.id, live).run_pass(stop, on_batch)

    def backfill(self, generation: int, live: Generation | None = None) -> Backfill:
        """The backfill of ``generation`` with the wanted profile (reusing the live generation's cut when only
        the model differs; ``live``: the live generation, read from the registry when not given)."""
        if live is None:
            live = self.live()
        same_cut = (
            live is not None
            and live.id != generation
            and (live.profile.chunking, live.profile.extraction)
            == (self.wanted.chunking, self.wanted.extraction)
        )
        return Backfill(
            self._pg.for_generation(generation),
            self._qdrant.for_generation(generation),
            self._pg,
            self._pg,
            self._chunker,
            self._embedder,
            live=self._pg.for_generation(live.id) if same_cut and live is not None else None,
            batch_documents=self._config.batch_documents,
        )

    def _gate(
        self, building: Generation, live: Generation | None, progress: Progress, result: PassResult
    ) -> CutoverBlocked | None:
        generation, config = building.id, self._config
        awaiting = CutoverBlocked(
            CutoverBlock.AWAITING_APPROVAL,
            f"generation {generation} passed the gate; cutover is Manual: approve it",
        )
        manual_and_unapproved = config.cutover == "Manual" and building.approved_at is None
        unchanged = not (result.filled or result.cleared or result.unfillable)
        if manual_and_unapproved and unchanged and building.blocked_reason is CutoverBlock.AWAITING_APPROVAL:
            return awaiting  # it passed the gate and nothing changed since: no need to check again
        if result.unfillable:
            return CutoverBlocked(
                CutoverBlock.DOCUMENTS_WITHOUT_TEXT,
                f"{len(result.unfillable)} documents have no kept text to cut again (stored before texts "
                f"were kept), e.g. {result.unfillable[0]!r}: upload them again",
            )
        if not progress.complete:
            return CutoverBlocked(
                CutoverBlock.BACKFILL_INCOMPLETE,
                f"{progress.done} of {progress.documents} documents filled, {progress.stale} stale",
            )
        pg, qdrant = self._pg.for_generation(generation), self._qdrant.for_generation(generation)
        pg.build_hnsw_index()
        qdrant.enable_indexing()
        OutboxDrainer(pg, qdrant).drain()
        report = check_consistency(pg, qdrant, sample_size=config.sample_size, k=config.k)
        if not report.consistent or report.overlap_at_k < config.min_overlap:
            return CutoverBlocked(
                CutoverBlock.STORES_DISAGREE,
                f"generation {generation}: {len(report.missing_ids)} points missing from Qdrant, "
                f"{len(report.orphan_ids)} orphans, overlap@{report.k} {report.overlap_at_k:.3f} "
                f"(minimum {config.min_overlap})",
            )
        if config.golden_queries is not None and building.approved_at is None:
            quality = self._judge_quality(building, live, config.golden_queries)
            if quality is not None:
                return quality
        return awaiting if manual_and_unapproved else None

    def _judge_quality(
        self, building: Generation, live: Generation | None, golden_path: Path
    ) -> CutoverBlocked | None:
        """Gate (c): the golden queries on the new generation against the live one (see the module)."""
        approve = f"approve generation {building.id} to cut over anyway"
        try:
            golden = load_golden_queries(golden_path)
        except ConfigurationError as exc:
            return CutoverBlocked(CutoverBlock.GOLDEN_QUERIES_INVALID, f"{exc}; fix the file, or {approve}")
        k, allowed = self._config.recall_k, self._config.max_recall_drop
        scores = {"building": self._score(golden, self._model, building.id, k)}
        if live is not None:
            live_model = self._embedder_for(live.profile.embedding)
            scores["live"] = self._score(golden, live_model, live.id, k)
        self.last_scores = scores
        for role, score in scores.items():
            GOLDEN_RECALL.labels(role).set(score.recall)
            GOLDEN_MRR.labels(role).set(score.mrr)
        new, old = scores["building"], scores.get("live")
        unknown = self._unknown_note(golden)
        if unknown:
            log.warning("golden queries of generation %d: %s", building.id, unknown)
        if live is None or old is None or new.recall >= old.recall - allowed - 1e-9:
            log.info("generation %d golden queries: %s", building.id, new.describe())
            return None
        return CutoverBlocked(
            CutoverBlock.RECALL_DROPPED,
            f"generation {building.id}: recall@{k} {new.recall:.3f} against {old.recall:.3f} on live "
            f"generation {live.id} (allowed drop {allowed}), MRR {new.mrr:.3f} against {old.mrr:.3f}, "
            f"{new.queries} golden queries{'; ' + unknown if unknown else ''}; improve the profile, or "
            f"{approve}",
        )

    def _unknown_note(self, golden: GoldenQueries) -> str:
        """What to say of the expected ids no document of the collection has ("" when all are known): they
        score as misses on every generation."""
        expected = sorted({doc_id for query in golden.queries for doc_id in query.doc_ids})
        known = self._pg.get_documents(expected)
        unknown = [doc_id for doc_id in expected if doc_id not in known]
        if not unknown:
            return ""
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        return f"{len(unknown)} expected document id(s) match no document and score as misses: {shown}"

    def _score(self, golden: GoldenQueries, model: Embedder, generation: int, k: int) -> RetrievalScore:
        search = vector_document_search(model, self._pg.for_generation(generation))
        return score_retrieval(golden, search, k)

    def _cutover(
        self, generation: int, live: Generation | None, stop: threading.Event | None
    ) -> CutoverBlocked | None:
        """Make ``generation`` live. Documents written while the gate ran are filled by a short pass and the
        switch is tried again, up to :data:`CUTOVER_ATTEMPTS` times: under a steady stream of uploads the
        switch would otherwise seldom find the generation complete."""
        for attempt in range(1, CUTOVER_ATTEMPTS + 1):
            refused = self._pg.for_generation(generation).promote(require_complete=True)
            if refused is None:
                break
            if attempt == CUTOVER_ATTEMPTS or (stop is not None and stop.is_set()):
                documents, missing, stale = refused
                return CutoverBlocked(
                    CutoverBlock.BACKFILL_INCOMPLETE,
                    f"writes kept landing during the cutover ({attempt} attempts): {missing} of {documents} "
                    f"documents missing, {stale} stale",
                )
            log.info(
                "generation %d: %d documents written during the gate, filling them", generation, refused[1]
            )
            self.backfill(generation, live).run_pass(stop)
        self._qdrant.for_generation(generation).point_live_alias()
        GENERATION_CUTOVERS.labels("promoted").inc()
        log.info("generation %d is live: %s", generation, self.wanted.describe())
        return None

    def _apply_retention(self) -> list[int]:
        expired = beyond_retention(self.generations(), self._config.retain)
        for generation in expired:
            self._drop(generation)
        return expired

    def _drop(self, generation: int) -> None:
        """Drop a non-live generation from both stores and the registry."""
        self._qdrant.for_generation(generation).drop()
        self._pg.for_generation(generation).drop_chunks_table()
        self._pg.forget_generation(generation)
        log.info("generation %d dropped", generation)
