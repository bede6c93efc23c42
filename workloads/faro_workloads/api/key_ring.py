"""The keys that open a service's data APIs: a keys file re-read when it changes, and the single admin key of
``FARO_AUTH__API_KEY``.

Kubernetes updates a Secret mounted as a volume in place (an atomic swap of the files), so a rotated key
reaches the running pods within the kubelet's sync period, without a restart: the ring looks at the file
(``stat``: inode, size, modification time) at most every ``check_seconds`` and loads it again when it
changed. A file that no longer parses (half-written by hand, a wrong field) is refused with a log line and
``faro_auth_key_reloads_total{result="refused"}``; the keys loaded before stay in force. A key is compared
with every entry in constant time (the digests, never the keys, are held).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from faro_workloads.contract.access import KeysFile, Scope, key_digest
from faro_workloads.core.metrics import AUTH_KEY_RELOADS, AUTH_KEYS
from faro_workloads.errors import ConfigurationError, first_problem, one_line

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1024 * 1024
DEFAULT_CHECK_SECONDS = 2.0
STATIC_KEY_NAME = "api-key"


@dataclass(frozen=True)
class Identity:
    """Who a request comes from: an API key's name and scope, or a Kubernetes user (a service account,
    ``system:serviceaccount:<namespace>:<name>``) with no scope, authorized call by call by RBAC."""

    name: str
    scope: Scope | None = None
    tenant: str | None = None
    """The tenant the caller is held to (None: any)."""


class KeyRing:
    """Identities by key, from ``keys_file`` (reloaded on change) and ``admin_key`` (named ``api-key``);
    with neither, a ring no key opens (an API closed to all)."""

    def __init__(
        self,
        keys_file: Path | None = None,
        admin_key: str | None = None,
        check_seconds: float = DEFAULT_CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._file = keys_file
        self._static = (
            [] if admin_key is None else [(key_digest(admin_key), Identity(STATIC_KEY_NAME, Scope.ADMIN))]
        )
        self._check_seconds = check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: list[tuple[str, Identity]] = []
        self._signature: tuple[int, int, int] | None = None
        self._next_check = 0.0
        if keys_file is not None:
            self._load(initial=True)
            self._next_check = clock() + check_seconds
        AUTH_KEYS.set(len(self._static) + len(self._entries))

    def identify(self, key: str) -> Identity | None:
        """The identity ``key`` belongs to, or None for a key no entry has."""
        self._refresh()
        digest = key_digest(key).encode()
        found = None
        for expected, identity in self._static + self._entries:  # no early exit: constant time per entry
            if hmac.compare_digest(digest, expected.encode()):
                found = identity
        return found

    # ------------------------------------------------------------------------------------------ reloading

    def _refresh(self) -> None:
        if self._file is None or self._clock() < self._next_check:
            return
        with self._lock:
            if self._clock() < self._next_check:
                return
            self._next_check = self._clock() + self._check_seconds
            try:
                signature = _signature(self._file)
            except OSError as exc:
                self._refused(f"cannot read it: {exc}")
                return
            if signature != self._signature:
                self._load(initial=False)

    def _load(self, initial: bool) -> None:
        assert self._file is not None
        try:
            signature = _signature(self._file)
            if signature[1] > MAX_FILE_BYTES:
                raise ValueError(f"it has {signature[1]} bytes, more than {MAX_FILE_BYTES}")
            parsed = KeysFile.model_validate_json(self._file.read_bytes())
        except (OSError, ValueError, ValidationError) as exc:
            reason = keys_file_problem(exc)
            if initial:
                raise ConfigurationError(f"keys file {self._file}: {reason}") from exc
            self._refused(reason)
            self._signature = None if isinstance(exc, OSError) else signature
            return
        self._entries = [
            (entry.sha256, Identity(entry.name, entry.scope, entry.tenant)) for entry in parsed.keys
        ]
        self._signature = signature
        AUTH_KEYS.set(len(self._static) + len(self._entries))
        AUTH_KEY_RELOADS.labels("loaded").inc()
        if not initial:
            log.info("keys file %s reloaded: %d keys", self._file, len(self._entries))

    def _refused(self, reason: str) -> None:
        AUTH_KEY_RELOADS.labels("refused").inc()
        log.error("keys file %s refused, the keys loaded before stay in force: %s", self._file, reason)


def _signature(path: Path) -> tuple[int, int, int]:
    """What changes when the file is replaced or rewritten: inode, size, modification time (ns)."""
    stat = path.stat()  # follows the symlinks of a mounted Secret to the current file
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def keys_file_problem(exc: Exception) -> str:
    """Why a keys file was refused, in one line: its first problem's place and what is wrong (pydantic's
    report otherwise quotes the bytes it read and a link)."""
    if isinstance(exc, ValidationError):
        return first_problem(exc, whole="keys")
    return one_line(exc)
