"""Faro's Kubernetes operator (kopf): Collection and RagPipeline custom resources."""

GROUP = "faro.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
