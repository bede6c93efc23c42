"""``spec.<component>.autoscaling`` of a RagPipeline: how many replicas a component may run, and what makes
it scale (README, "Scaling out")."""

from __future__ import annotations

from pydantic import Field, model_validator

from faro_workloads.contract.api import ApiModel


class AutoscalingSpec(ApiModel):
    """The embedding engine scales on its queue's depth through KEDA when the cluster serves ``keda.sh``
    (a ScaledObject), every component on CPU through a HorizontalPodAutoscaler otherwise. While it is set,
    the Deployment's ``replicas`` is the autoscaler's to change."""

    min_replicas: int = Field(
        1,
        ge=0,
        le=100,
        description="Fewest replicas (0: the embedder idles at none while its queue is empty; KEDA only, "
        "a HorizontalPodAutoscaler keeps at least 1).",
    )
    max_replicas: int = Field(10, ge=1, le=100, description="Most replicas.")
    messages_per_replica: int = Field(
        100,
        ge=1,
        le=100_000,
        description="The embedder's target: messages waiting or in flight in its queue per replica (KEDA).",
    )
    cpu_utilization: int = Field(
        70, ge=1, le=100, description="Target average CPU, % of the requests (HorizontalPodAutoscaler)."
    )

    @model_validator(mode="after")
    def _bounds_in_order(self) -> AutoscalingSpec:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"maxReplicas ({self.max_replicas}) is below minReplicas ({self.min_replicas})")
        return self
