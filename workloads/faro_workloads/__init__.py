"""Faro workloads: the data plane (chunking, embeddings, dual-written stores) and its services."""

__version__ = "0.1.0"
