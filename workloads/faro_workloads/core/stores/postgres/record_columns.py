"""The documents table's columns, in the order of :class:`~faro_workloads.core.documents.DocumentRecord`'s
fields (every statement that reads records whole selects these)."""

RECORD_COLUMNS = "doc_id, content_hash, source, chunk_count, metadata, updated_at, profile, source_etag"
