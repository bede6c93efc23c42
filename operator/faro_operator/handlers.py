"""What happens when a Collection or a RagPipeline is applied: the table of contents of the operator.

Every handler is level-based: create, update, resume and the periodic resync all run the same reconcile,
which compares the desired children with the cluster and converges (restoring deleted or edited children).
"""

from __future__ import annotations

from typing import Any

import kopf

from faro_operator.access_bindings import delete_pipeline_access, may_hold_token_review
from faro_operator.collection_reconcile import delete_collection, reconcile_collection
from faro_operator.pipeline_reconcile import reconcile_pipeline
from faro_workloads.contract.api import COLLECTION, GROUP, RAGPIPELINE, VERSION

# A failed reconcile (API server or store hiccup) is retried after this long, not kopf's default minute.
RETRY_BACKOFF_SECONDS = 10


def register_handlers(registry: kopf.OperatorRegistry, resync_seconds: float) -> None:
    common = {"group": GROUP, "version": VERSION, "registry": registry, "backoff": RETRY_BACKOFF_SECONDS}
    collections = {**common, "plural": COLLECTION.plural}
    pipelines = {**common, "plural": RAGPIPELINE.plural}

    @kopf.on.resume(**collections)
    @kopf.on.create(**collections)
    @kopf.on.update(**collections)
    def collection_applied(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
        reconcile_collection(body, patch, memo.context)

    @kopf.timer(**collections, interval=resync_seconds, initial_delay=resync_seconds)
    def collection_resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
        reconcile_collection(body, patch, memo.context)

    @kopf.on.delete(**collections)
    def collection_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        delete_collection(body, memo.context)

    @kopf.on.resume(**pipelines)
    @kopf.on.create(**pipelines)
    @kopf.on.update(**pipelines)
    def pipeline_applied(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
        reconcile_pipeline(body, patch, memo.context)

    @kopf.timer(**pipelines, interval=resync_seconds, initial_delay=resync_seconds)
    def pipeline_resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
        reconcile_pipeline(body, patch, memo.context)

    # Only pipelines that may hold a cluster-scoped token-review binding get the finalizer (kopf adds it
    # where a deletion handler's filter matches): the binding has no owner to be collected with.
    @kopf.on.delete(**pipelines, when=lambda spec, **_: may_hold_token_review(dict(spec)))
    def pipeline_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        delete_pipeline_access(body, memo.context)
