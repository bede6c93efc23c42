"""HTTP APIs (FastAPI): documents, query, health and metrics."""
