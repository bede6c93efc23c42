"""How the services stop, which the Deployments the operator renders must leave time for.

On a pod's deletion Kubernetes runs the preStop hook, then sends SIGTERM, then SIGKILL once
``terminationGracePeriodSeconds`` (counted from the start) have passed. The HTTP services keep serving
through the pause (Services and load balancers stop sending new connections meanwhile), then stop accepting
and let open requests finish; the embedding engine stops receiving and lets in-flight messages finish or
gives them back to the queue.
"""

from __future__ import annotations

ENDPOINT_REMOVAL_SECONDS = 5
"""The preStop pause of an HTTP service: Service endpoints and load balancers drop the pod meanwhile, so no
new connection is refused when it stops accepting."""
HTTP_DRAIN_SECONDS = 20
"""After SIGTERM, how long an HTTP service lets open requests finish (uvicorn's graceful shutdown)."""
EMBEDDER_DRAIN_SECONDS = 45
"""After SIGTERM, how long the embedding engine lets in-flight SQS messages finish before it gives the rest
back to the queue (``faro serve embedder --shutdown-grace``)."""
KILL_MARGIN_SECONDS = 10
"""What a pod's grace period adds to its own drain: closing stores and exiting, before the SIGKILL."""
