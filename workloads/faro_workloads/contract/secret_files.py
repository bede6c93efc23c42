"""Secrets as files: a folder (``FARO_SECRETS_DIR``) whose files are named like the settings' variables.

In a cluster the operator mounts the Secrets a pod needs (the PostgreSQL DSN, the Qdrant and model keys)
as files of one read-only volume instead of passing them as environment variables, which any process of
the container can read from ``/proc/<pid>/environ`` and which crash reporters and ``env`` dumps print. A
file ``FARO_POSTGRES__DSN`` in the folder sets ``postgres.dsn`` as the variable would; a variable that is
set wins over the file. Other names in the folder (the volume's own ``..data`` entries, the fallback
targets' key files) are not settings and are left alone. Read once, at start.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic_settings import EnvSettingsSource

from faro_workloads.contract.bounded_files import UnreadableFile, read_bounded

SECRETS_DIR_VARIABLE = "FARO_SECRETS_DIR"
MAX_SECRET_BYTES = 64 * 1024
"""A secret file larger than this is refused: a DSN or an API key is a line, not a document."""
_SETTING_FILE = re.compile(r"^FARO_[A-Z0-9_]+$")


class SecretFileError(ValueError):
    """A secrets folder or file that cannot be read as one (the message names it and why)."""


def secrets_dir() -> Path | None:
    """The folder ``FARO_SECRETS_DIR`` names, or None when it is unset or empty."""
    value = os.environ.get(SECRETS_DIR_VARIABLE, "").strip()
    return Path(value) if value else None


def read_secret_file(path: Path) -> str:
    """One secret's text: the file's UTF-8 content without its trailing line break."""
    try:
        return read_bounded(path, MAX_SECRET_BYTES, "secret file").decode("utf-8").rstrip("\r\n")
    except UnreadableFile as error:
        raise SecretFileError(str(error)) from None
    except UnicodeDecodeError:
        raise SecretFileError(f"secret file {path}: not UTF-8 text") from None


def setting_files(folder: Path) -> dict[str, str]:
    """``{variable: value}`` for each file of ``folder`` named like a ``FARO_*`` variable."""
    if not folder.is_dir():
        raise SecretFileError(f"{SECRETS_DIR_VARIABLE} names {folder}, which is not a folder")
    return {
        entry.name: read_secret_file(entry)
        for entry in sorted(folder.iterdir())
        if _SETTING_FILE.match(entry.name) and entry.is_file()
    }


def secret_file_path(name: str) -> Path:
    """Where the secret file ``name`` is: itself when absolute, else in the secrets folder."""
    path = Path(name)
    if path.is_absolute():
        return path
    folder = secrets_dir()
    if folder is None:
        raise SecretFileError(f"secret file {name!r} is relative, and {SECRETS_DIR_VARIABLE} is not set")
    return folder / path


class SecretFilesSource(EnvSettingsSource):
    """The settings source reading :func:`setting_files` of the secrets folder, parsed exactly as the
    environment variables of the same names would be (nested ``__`` names, JSON values)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        folder = secrets_dir()
        if folder is None:
            return {}
        files = setting_files(folder)
        return files if self.case_sensitive else {name.lower(): value for name, value in files.items()}
