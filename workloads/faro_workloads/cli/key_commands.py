"""``faro keys new|check``: API keys for the data APIs and the keys file that holds their digests."""

from __future__ import annotations

import json
from pathlib import Path

import click
from pydantic import ValidationError

from faro_workloads.cli import cli, counted
from faro_workloads.contract.access import NAME_PATTERN, ApiKeyEntry, KeysFile, Scope, key_digest, new_key
from faro_workloads.errors import ConfigurationError, first_problem


@cli.group()
def keys() -> None:
    """API keys for the documents and query APIs (the keys file a Secret holds)."""


@keys.command("new")
@click.option("--name", required=True, help=f"Who holds the key (audit lines name it; {NAME_PATTERN}).")
@click.option("--scope", type=click.Choice([s.value for s in Scope]), required=True, help="What it may call.")
@click.option(
    "--file",
    "keys_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Add the key's entry to this keys file (made when missing); otherwise the entry is printed.",
)
@click.option("--tenant", help="Hold the key to this tenant's documents (default: not held to a tenant).")
def new(name: str, scope: str, keys_file: Path | None, tenant: str | None) -> None:
    """Make a key: it is printed once, on stdout (give it to its holder); only its digest is kept."""
    key = new_key()
    try:
        entry = ApiKeyEntry(name=name, sha256=key_digest(key), scope=Scope(scope), tenant=tenant)
    except ValidationError as exc:
        raise ConfigurationError(first_problem(exc)) from exc
    if keys_file is None:
        click.echo(f"entry: {entry.model_dump_json()}", err=True)
    else:
        current = _read(keys_file) if keys_file.exists() else KeysFile()
        if name in {existing.name for existing in current.keys}:
            raise ConfigurationError(f"keys file {keys_file} has a key named {name!r} already")
        updated = KeysFile(keys=[*current.keys, entry])
        keys_file.write_text(json.dumps(updated.model_dump(mode="json"), indent=2) + "\n")
        held = f", tenant {tenant}" if tenant else ""
        click.echo(
            f"added {name!r} ({scope}{held}) to {keys_file}: {counted(len(updated.keys), 'key')}", err=True
        )
    click.echo(key)


@keys.command("check")
@click.argument("keys_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check(keys_file: Path) -> None:
    """Check a keys file as the services load it; list its keys' names, scopes and tenants (exit 2 when
    invalid)."""
    parsed = _read(keys_file)
    for entry in parsed.keys:
        click.echo(f"{entry.name}\t{entry.scope}\t{entry.tenant or '-'}")
    click.echo(f"{keys_file}: {counted(len(parsed.keys), 'key')}, valid", err=True)


def _read(path: Path) -> KeysFile:
    try:
        return KeysFile.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        from faro_workloads.api.key_ring import keys_file_problem

        raise ConfigurationError(f"keys file {path}: {keys_file_problem(exc)}") from exc
