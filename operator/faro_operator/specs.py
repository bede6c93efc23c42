"""The custom resources' specs as pydantic models: the single source of the CRD schemas (with their
``kubectl explain`` texts), of validation, and of what the builders read.

Field names are camelCase in YAML (aliases) and snake_case in Python. The Collection's models live in
:mod:`faro_operator.collection_spec`, the data APIs' access in :mod:`faro_operator.access_spec` and the shared
base in :mod:`faro_operator.spec_base`; they are re-exported here, where every spec model can be found.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from faro_operator.access_spec import AccessSpec, RateLimitSpec
from faro_operator.autoscaling_spec import AutoscalingSpec
from faro_operator.collection_spec import (
    CollectionSpec,
    DeletionPolicy,
    ExternalQdrant,
    HnswSpec,
    PostgresSpec,
    QdrantClusterSpec,
    QdrantSpec,
)
from faro_operator.spec_base import CRON_SCHEDULE, HTTP_URL, K8S_NAME, QUANTITY, SecretKeyRef, SpecModel
from faro_workloads.contract import chunking
from faro_workloads.contract.api import SearchMode
from faro_workloads.contract.golden_queries import (
    DEFAULT_MAX_RECALL_DROP,
    DEFAULT_RECALL_K,
    RecallDrop,
    RecallK,
)
from faro_workloads.contract.settings import BUCKET_PATTERN, MAX_SOURCE_GLOBS, SOURCE_PREFIX_PATTERN

__all__ = [
    "K8S_NAME",
    "QUANTITY",
    "AccessSpec",
    "CollectionSpec",
    "DeletionPolicy",
    "ExternalQdrant",
    "HnswSpec",
    "PostgresSpec",
    "QdrantClusterSpec",
    "QdrantSpec",
    "RagPipelineSpec",
    "RateLimitSpec",
    "SecretKeyRef",
    "SpecModel",
]

# ------------------------------------------------------------------------------------------ RagPipeline


class ResourceList(SpecModel):
    cpu: str | None = Field(None, pattern=QUANTITY)
    memory: str | None = Field(None, pattern=QUANTITY)


class Resources(SpecModel):
    requests: ResourceList = Field(default_factory=lambda: ResourceList(cpu="100m", memory="256Mi"))
    limits: ResourceList = Field(default_factory=lambda: ResourceList(memory="1Gi"))


class ImageSpec(SpecModel):
    repository: str = Field("ghcr.io/faro-dev/faro-workloads", min_length=1, description="Image repository.")
    tag: str = Field("0.1.0", min_length=1, max_length=128, description="Image tag.")
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


IAM_ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"


class ComponentSpec(SpecModel):
    """One Deployment of the pipeline."""

    replicas: int = Field(1, ge=0, le=100, description="Replicas, unless autoscaling is set.")
    autoscaling: AutoscalingSpec | None = Field(None, description="Let an autoscaler set the replicas.")
    resources: Resources = Field(default_factory=Resources)
    image: ImageSpec | None = Field(None, description="Overrides spec.image for this component.")
    service_account_role_arn: str | None = Field(
        None,
        pattern=IAM_ROLE_ARN,
        description="IAM role for the component's ServiceAccount (IRSA annotation).",
    )


class CollectionRef(SpecModel):
    name: str = Field(..., pattern=K8S_NAME, max_length=253, description="A Collection in this namespace.")


class SourceDocumentsSpec(SpecModel):
    """A bucket prefix of raw documents kept in sync with the pipeline: a file created there is ingested
    (``doc_id``: its key below the prefix; its S3 user metadata and tags as metadata), a file removed there is
    deleted from every store, and the consistency job's full sync catches what notifications missed."""

    bucket: str | None = Field(
        None, pattern=BUCKET_PATTERN, description="Bucket of the documents; spec.source.bucket when absent."
    )
    prefix: str = Field(..., pattern=SOURCE_PREFIX_PATTERN, description="Key prefix, e.g. raw/docs.")
    include: list[str] = Field(
        default_factory=list,
        max_length=MAX_SOURCE_GLOBS,
        description="Globs of keys below the prefix to ingest (all when empty); * crosses /.",
    )
    exclude: list[str] = Field(
        default_factory=list, max_length=MAX_SOURCE_GLOBS, description="Globs of keys never ingested."
    )
    sync: bool = Field(
        True, description="The periodic full sync ingests and deletes what differs (false: it only reports)."
    )


class SourceSpec(SpecModel):
    """The bucket chunk objects go to, and the queue receiving its ObjectCreated notifications."""

    bucket: str = Field(..., pattern=BUCKET_PATTERN)
    prefix: str = Field(
        "faro", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", description="Top-level key prefix."
    )
    queue_url: str = Field(
        ...,
        pattern=HTTP_URL,
        max_length=2048,
        description="SQS queue URL receiving the bucket's notifications.",
    )
    dead_letter_queue_url: str | None = Field(
        None, pattern=HTTP_URL, max_length=2048, description="Where poison messages go."
    )
    region: str = Field("us-east-1", min_length=1)
    endpoint_url: str | None = Field(
        None,
        pattern=HTTP_URL,
        max_length=2048,
        description="S3/SQS endpoint override (S3-compatible stores).",
    )
    max_receives: int = Field(5, ge=1, le=1000, description="Receives before a message is dead-lettered.")
    documents: SourceDocumentsSpec | None = Field(
        None, description="A bucket prefix of raw documents to ingest and keep in sync (deletes included)."
    )


class ChunkingSpec(SpecModel):
    strategy: chunking.ChunkingStrategy = chunking.DEFAULT_STRATEGY
    size: chunking.ChunkSize = Field(chunking.DEFAULT_SIZE, description="Tokens per chunk.")
    overlap: chunking.ChunkOverlap = Field(
        chunking.DEFAULT_OVERLAP, description="Tokens shared by neighbouring chunks."
    )
    context: chunking.ChunkContext = Field(
        chunking.DEFAULT_CONTEXT,
        description=(
            "What the model embeds with each chunk: 'title-lead-headings' (its document's title, lead "
            "paragraph and the headings above it), 'title-headings' (its document's title and the headings "
            "above it; the returned text stays the chunk's own) or 'none'. A change reindexes."
        ),
    )
    semantic_percentile: chunking.SemanticPercentile = Field(
        chunking.DEFAULT_SEMANTIC_PERCENTILE,
        description=(
            "strategy semantic: cut where neighbouring sentences' embeddings (by the pipeline's model) are "
            "further apart than this percentile of the document's sentence distances; higher, fewer cuts."
        ),
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingSpec:
        if problem := chunking.overlap_problem(self.size, self.overlap):
            raise ValueError(problem)
        return self


class FallbackTargetSpec(SpecModel):
    provider: Literal["openai", "cohere"] = "openai"
    custom_host: str = Field(..., min_length=1)
    model: str | None = None
    api_key_secret_ref: SecretKeyRef | None = None


class EmbeddingSpec(SpecModel):
    """The embedding model, reached through the Portkey gateway."""

    gateway_url: str = Field(
        ...,
        pattern=HTTP_URL,
        max_length=2048,
        description="Portkey gateway base URL, e.g. http://portkey:8787/v1.",
    )
    provider: Literal["openai", "cohere"] = "openai"
    custom_host: str | None = Field(
        None,
        pattern=HTTP_URL,
        max_length=2048,
        description="Self-hosted model server the gateway forwards to.",
    )
    model: str = Field(..., min_length=1)
    dimension: int = Field(..., ge=1, le=16000, description="Must equal the Collection's dimension.")
    batch_size: int = Field(64, ge=1, le=2048)
    api_key_secret_ref: SecretKeyRef | None = Field(None, description="Provider API key.")
    portkey_api_key_secret_ref: SecretKeyRef | None = Field(
        None, description="Portkey API key (hosted gateway)."
    )
    fallback_targets: list[FallbackTargetSpec] = Field(default_factory=list, max_length=8)
    retry_attempts: int = Field(0, ge=0, le=5, description="Gateway-side retries per target.")


class QuerySpec(SpecModel):
    enabled: bool = True
    top_k_default: int = Field(5, ge=1, le=100)
    mode: SearchMode = Field(
        SearchMode.HYBRID,
        description="Search mode of a query that names none: dense, lexical (BM25) or hybrid (both, fused).",
    )
    lexical_weight: float = Field(
        1.0,
        ge=0,
        le=10,
        description="Weight of the lexical ranking in hybrid fusion (the dense one weighs 1).",
    )
    auth_secret_ref: SecretKeyRef | None = Field(None, description="Bearer API key; the API is open without.")


class ConsistencySpec(SpecModel):
    schedule: str = Field(
        "*/30 * * * *", pattern=CRON_SCHEDULE, max_length=100, description="Cron schedule of the check."
    )
    sample_size: int = Field(50, ge=1, le=10000)
    k: int = Field(10, ge=1, le=1000)
    min_overlap: float = Field(0.95, ge=0, le=1)
    repair: bool = Field(
        False,
        description="Realign Qdrant from Postgres after each check; send documents PostgreSQL lacks to the "
        "embedding engine again and delete orphans (the census).",
    )
    pushgateway_url: str | None = Field(None, pattern=HTTP_URL, max_length=2048)
    census: bool = Field(True, description="Count the acknowledged chunk objects against both stores.")
    census_grace_seconds: float = Field(
        300, ge=0, le=86400, description="A document acknowledged this recently is in flight, not missing."
    )
    max_orphan_deletes: int = Field(
        1000, ge=0, description="The repair deletes no orphan when there are more (a wrong prefix looks so)."
    )
    service_account_role_arn: str | None = Field(
        None,
        pattern=IAM_ROLE_ARN,
        description="IAM role of the job's ServiceAccount (IRSA): the census lists the chunk objects "
        "(s3:ListBucket) and, with repair, sends missing documents to the queue again (sqs:SendMessage).",
    )


class GoldenQueriesRef(SpecModel):
    """A key of a ConfigMap in the pipeline's namespace holding golden queries (YAML or JSON: ``queries``,
    each a ``query`` and the ``docIds`` that answer it)."""

    config_map: str = Field(..., pattern=K8S_NAME, max_length=253, description="ConfigMap name.")
    key: str = Field(
        "queries.yaml",
        pattern=r"^[-._a-zA-Z0-9]+$",
        max_length=253,
        description="Key within the ConfigMap.",
    )


class GenerationsSpec(SpecModel):
    """How a change of ``embedding`` or ``chunking`` is rolled out: a new index generation is built beside
    the live one and switched to once it passes the gate (README, "Changing the model or chunking")."""

    cutover: Literal["Automatic", "Manual"] = Field(
        "Automatic",
        description=(
            "Automatic: switch once the new generation passes the gate; Manual: wait for the annotation "
            "faro.dev/approve-generation with the generation's number (which also lets through a generation "
            "the golden queries refused)."
        ),
    )
    retain_generations: int = Field(1, ge=0, le=10, description="Retired generations kept for rollback.")
    min_overlap: float = Field(
        0.95, ge=0, le=1, description="Lowest overlap@k between the new generation's two stores."
    )
    golden_queries: GoldenQueriesRef | None = Field(
        None,
        description=(
            "Golden queries the new generation must answer about as well as the live one (recall@k at most "
            "maxRecallDrop below) before the cutover; an approval overrides a drop."
        ),
    )
    recall_k: RecallK = DEFAULT_RECALL_K
    max_recall_drop: RecallDrop = DEFAULT_MAX_RECALL_DROP


class MonitoringSpec(SpecModel):
    service_monitor: bool = Field(True, description="Create ServiceMonitors (needs the Prometheus Operator).")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels, e.g. release: kube-prometheus-stack."
    )


NamespaceName = Annotated[str, StringConstraints(pattern=K8S_NAME, max_length=63)]


class NetworkPolicySpec(SpecModel):
    """Who may reach the pipeline's pods (their http and metrics ports) besides pods of its own namespace."""

    ingress_namespaces: list[NamespaceName] = Field(
        default_factory=lambda: ["monitoring"],
        max_length=32,
        description=(
            "Namespaces allowed in: the Prometheus that scrapes the pods (kube-prometheus-stack usually runs "
            "in 'monitoring') and e.g. an ingress controller's. Default: [monitoring]; empty: the pipeline's "
            "namespace only."
        ),
    )


class RagPipelineSpec(SpecModel):
    """A document pipeline: chunking service -> S3 -> SQS -> embedding engine -> both stores -> query."""

    collection_ref: CollectionRef
    source: SourceSpec
    chunking: ChunkingSpec = Field(default_factory=ChunkingSpec)
    embedding: EmbeddingSpec
    image: ImageSpec = Field(default_factory=ImageSpec)
    chunker: ComponentSpec = Field(default_factory=ComponentSpec)
    embedder: ComponentSpec = Field(default_factory=ComponentSpec)
    query: QuerySpec = Field(default_factory=QuerySpec)
    query_service: ComponentSpec = Field(default_factory=ComponentSpec)
    access: AccessSpec = Field(default_factory=AccessSpec)
    consistency: ConsistencySpec = Field(default_factory=ConsistencySpec)
    generations: GenerationsSpec = Field(default_factory=GenerationsSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    network_policy: NetworkPolicySpec = Field(default_factory=NetworkPolicySpec)

    @model_validator(mode="after")
    def _anonymous_without_a_query_key(self) -> RagPipelineSpec:
        if self.access.anonymous and self.query.auth_secret_ref is not None:
            raise ValueError(
                "access.anonymous and query.authSecretRef exclude each other: set one or the other"
            )
        return self
