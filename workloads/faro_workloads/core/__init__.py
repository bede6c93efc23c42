"""Shared core of every Faro workload: documents, chunking, embeddings, stores, outbox."""
