"""Faro workloads: the data plane (chunking, embeddings, dual-written stores) and its services."""

from faro_workloads.errors import DependencyUnavailable, FaroError, InputError

__version__ = "0.1.0"
__all__ = ["DependencyUnavailable", "FaroError", "InputError", "__version__"]
