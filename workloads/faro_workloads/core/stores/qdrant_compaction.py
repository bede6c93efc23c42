"""Compaction of a collection in qdrant-client's local mode, where deleted points never leave memory.

Local mode (``QdrantClient(path=...)`` or ``":memory:"``) deletes a point by setting a flag: its slot (id,
payload, vector) stays in the collection's in-memory arrays until the client is reopened, and every
filtered search evaluates the filter in Python over every slot, deleted ones included, before dropping
them. A point id that comes back reuses its slot, but Faro's ids are per (document, sequence number): a
collection whose documents come and go, or shrink, keeps piling up dead slots and its searches slow down
without bound (some 20-50 µs per dead slot per filtered search). Behind a folder, the SQLite file holds
only live rows but never shrinks (no auto-vacuum): it stays at its high-water mark.

A Qdrant server vacuums its segments itself (its optimizer's ``deleted_threshold``); all of this is for
local mode only. The slot counts exist nowhere but in qdrant-client's ``LocalCollection``, so
:func:`local_slot_counts` reads them there (and answers None should a qdrant-client release move them).
:class:`LocalCompaction` rebuilds a store's collection from its live points: a folder by reopening the
client, which loads only the live rows (what a restart does), after a VACUUM of the SQLite file; ``:memory:``
by copying the live points into a fresh in-memory client.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient, models

from faro_workloads.core.stores.qdrant_connection import QdrantConnection

log = logging.getLogger(__name__)

# Where qdrant-client's local mode keeps one collection's points under its folder.
_STORAGE_FILE = Path("collection") / "{name}" / "storage.sqlite"
# Points per batch when compaction copies a :memory: collection.
_COPY_BATCH_SIZE = 4096


@dataclass(frozen=True, slots=True)
class CompactionPolicy:
    """When a local-mode collection is rebuilt: once its deleted slots are at least ``min_deleted`` and at
    least ``deleted_share`` of all its slots (the same rule, in pages, decides when its SQLite file is
    vacuumed at start-up). ``deleted_share`` is a Qdrant server optimizer's default deleted_threshold; the
    floor is far below its 1,000 because every dead slot costs each filtered search of local mode some
    20-50 µs, while rebuilding a small collection costs little: at most ~64 dead slots, a few ms."""

    min_deleted: int = 64
    deleted_share: float = 0.2

    def __post_init__(self) -> None:
        if self.min_deleted < 1:
            raise ValueError(f"min_deleted must be at least 1, got {self.min_deleted}")
        if not 0 < self.deleted_share < 1:
            raise ValueError(f"deleted_share must be between 0 and 1 (exclusive), got {self.deleted_share}")

    def due(self, total: int, dead: int) -> bool:
        """Whether ``dead`` of ``total`` slots (or pages) are enough garbage to rebuild for."""
        return dead >= self.min_deleted and dead >= self.deleted_share * total


@dataclass(frozen=True, slots=True)
class LocalGarbage:
    """What a local-mode collection holds beyond its live points.

    ``slots``: point slots in memory, live and deleted; ``deleted``: the deleted ones among them, which every
    search still scans. ``storage_bytes`` / ``storage_free_bytes``: size of the SQLite file and its unused
    pages (0 and 0 in memory).
    """

    slots: int
    deleted: int
    storage_bytes: int = 0
    storage_free_bytes: int = 0


@dataclass(frozen=True, slots=True)
class StoragePages:
    """Page counts of a SQLite file (``PRAGMA page_size``, ``page_count``, ``freelist_count``)."""

    page_size: int
    pages: int
    free_pages: int


def local_slot_counts(client: QdrantClient, name: str) -> tuple[int, int] | None:
    """``(slots, deleted)`` of collection ``name`` in a local-mode client; None when the client is not in
    local mode, the collection does not exist, or this qdrant-client keeps them elsewhere."""
    local = getattr(client, "_client", None)
    collections = getattr(local, "collections", None)
    collection = collections.get(name) if isinstance(collections, dict) else None
    deleted = getattr(collection, "deleted", None)
    ids = getattr(collection, "ids_inv", None)
    if not isinstance(deleted, np.ndarray) or not isinstance(ids, list) or len(deleted) != len(ids):
        return None
    return len(ids), int(np.count_nonzero(deleted))


def storage_file(folder: str, name: str) -> Path:
    """The SQLite file holding collection ``name`` of the local-mode folder ``folder``."""
    return Path(folder) / str(_STORAGE_FILE).format(name=name)


def storage_pages(path: Path) -> StoragePages | None:
    """Page counts of the SQLite file ``path`` (read-only), None when there is no such file."""
    if not path.is_file():
        return None
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        (free_pages,) = conn.execute("PRAGMA freelist_count").fetchone()
    return StoragePages(int(page_size), int(pages), int(free_pages))


def vacuum(path: Path) -> None:
    """Rewrite the SQLite file ``path`` without its free pages (atomic: SQLite's own VACUUM)."""
    with closing(sqlite3.connect(str(path), timeout=10.0)) as conn:
        conn.execute("VACUUM")


def copy_points(source: QdrantClient, target: QdrantClient, name: str, batch_size: int) -> int:
    """Copy every point of collection ``name`` (ids, vectors, payloads) from ``source`` into the existing
    collection ``name`` of ``target``; returns how many."""
    copied = 0
    offset: models.ExtendedPointId | None = None
    while True:
        records, offset = source.scroll(
            name, limit=batch_size, offset=offset, with_payload=True, with_vectors=True
        )
        if records:
            # The vectors come from the collection itself: no need for pydantic's per-float validation.
            # A point's vector is a list, or a dict with the lexical sparse vector beside the dense one.
            points = [
                models.PointStruct.model_construct(id=record.id, vector=record.vector, payload=record.payload)
                for record in records
            ]
            target.upsert(name, points=points, wait=True)
            copied += len(records)
        if offset is None:
            return copied


class LocalCompaction:
    """Rebuilds one store's local-mode collection from its live points: after deletes once ``policy`` says
    so, or when asked. Does nothing for a server or Qdrant Edge, whose optimizer vacuums.

    ``create`` makes the empty collection (with its payload index) in a fresh client, for ``:memory:``.
    """

    def __init__(
        self,
        connection: QdrantConnection,
        name: str,
        policy: CompactionPolicy,
        create: Callable[[QdrantClient], None],
    ) -> None:
        self._connection = connection
        self._name = name
        self._policy = policy
        self._create = create
        self._unknown_layout_logged = False

    def garbage(self) -> LocalGarbage | None:
        """The collection's point slots (deleted ones included) and its SQLite file's size and free space.
        None for a server, Qdrant Edge, a missing collection, or a qdrant-client that keeps them elsewhere."""
        connection = self._connection
        if not connection.compacts:
            return None
        with connection.lock:
            counts = local_slot_counts(connection.client, self._name)
        if counts is None:
            return None
        folder = connection.folder
        pages = storage_pages(storage_file(folder, self._name)) if folder else None
        if pages is None:
            return LocalGarbage(*counts)
        return LocalGarbage(*counts, pages.pages * pages.page_size, pages.free_pages * pages.page_size)

    def compact(self) -> bool:
        """Rebuild the collection from its live points now, whatever the policy says. False (nothing done)
        for a server, Qdrant Edge or a missing collection."""
        connection = self._connection
        if not connection.compacts:
            return False
        with connection.lock:
            if not connection.client.collection_exists(self._name):
                return False
            self._compact()
        return True

    def compact_if_due(self) -> None:
        """After deletes: rebuild the collection once its deleted slots pass the policy's threshold."""
        connection = self._connection
        if not connection.compacts:
            return
        with connection.lock:
            counts = local_slot_counts(connection.client, self._name)
            if counts is None:
                if not self._unknown_layout_logged and connection.client.collection_exists(self._name):
                    self._unknown_layout_logged = True
                    log.warning("cannot count deleted points of qdrant local collection %s", self._name)
                return
            if self._policy.due(*counts):
                self._compact()

    def vacuum_if_due(self) -> None:
        """A folder: vacuum the SQLite file when the policy says its free pages are enough garbage."""
        folder = self._connection.folder
        if folder is None or not self._connection.compacts:
            return
        path = storage_file(folder, self._name)
        try:
            pages = storage_pages(path)
            if pages is None or not self._policy.due(pages.pages, pages.free_pages):
                return
            vacuum(path)
        except sqlite3.Error as exc:  # housekeeping: never what stops the store from starting
            log.warning("could not vacuum %s: %s", path, exc)
            return
        log.info("vacuumed %s: %d of %d pages were free", path, pages.free_pages, pages.pages)

    def _compact(self) -> None:
        """Rebuild the collection from its live points; the caller holds the lock, so searches and writes
        see the collection before or after, never in between. Raises when a folder cannot be reopened (the
        store is then unusable, as after a failed start)."""
        connection = self._connection
        before = local_slot_counts(connection.client, self._name)
        with connection.call("compact"):
            folder = connection.folder
            if folder is None:
                self._rebuild_in_memory()
            else:
                self._reload_folder(folder)
        after = local_slot_counts(connection.client, self._name)
        log.info("compacted qdrant local collection %s: (slots, deleted) %s -> %s", self._name, before, after)

    def _rebuild_in_memory(self) -> None:
        """``:memory:``: copy the live points into a fresh client, then swap it in (the old one is kept
        should the copy fail). The client's other collections (other index generations) and its aliases are
        copied as they are."""
        old, fresh = self._connection.client, QdrantClient(location=":memory:")
        try:
            for collection in old.get_collections().collections:
                if collection.name == self._name:
                    self._create(fresh)
                else:
                    params = old.get_collection(collection.name).config.params
                    fresh.create_collection(
                        collection.name,
                        vectors_config=params.vectors,
                        sparse_vectors_config=params.sparse_vectors,
                    )
                copy_points(old, fresh, collection.name, _COPY_BATCH_SIZE)
            aliases = [
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(
                        collection_name=a.collection_name, alias_name=a.alias_name
                    )
                )
                for a in old.get_aliases().aliases
            ]
            if aliases:
                fresh.update_collection_aliases(change_aliases_operations=aliases)
        except Exception:
            fresh.close()
            raise
        self._connection.replace(fresh)

    def _reload_folder(self, folder: str) -> None:
        """A folder: vacuum its SQLite file, then reopen the client, which loads only the live points."""
        path = storage_file(folder, self._name)
        try:
            vacuum(path)
        except sqlite3.Error as exc:  # the reload alone still drops the dead slots
            log.warning("could not vacuum %s: %s", path, exc)
        self._connection.client.close()
        try:
            self._connection.reopen()
        except Exception as exc:
            raise RuntimeError(
                f"qdrant local folder {folder} could not be reopened after compaction: {exc}"
            ) from exc
